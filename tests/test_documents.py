"""Answers holding several JSON documents: one documented rule per task, never a silent merge.

* classify: the documents must agree; different classes in different documents are an error naming them;
* classify_multi: the union of the classes every document names;
* extract: the first complete document that is a valid answer is ``data``; the others are kept apart
  in ``Extraction.others``; a document cut off at the end is never used;
* detect / point / locate_events: every object of every document.
"""

from __future__ import annotations

from pydantic import BaseModel

from qwen_vlm import Detections, Events, Extraction, Points, TruncatedOutputError, parse
from qwen_vlm.results import Classification, MultiLabelClassification

Q3 = "Qwen/Qwen3-VL-8B-Instruct"
SIZE = (1000, 500)


def test_classify_documents_that_agree_give_their_class() -> None:
    result = parse("classify", '{"label": "cat"}\n{"label": "Cat."}', Q3, classes=["cat", "dog"])
    assert isinstance(result, Classification) and result.ok and result.label == "cat"


def test_classify_documents_that_disagree_are_an_error_naming_both() -> None:
    result = parse("classify", '{"label": "cat"}\n{"label": "dog"}', Q3, classes=["cat", "dog"])
    assert result.label is None and not result.ok
    assert (
        "cat" in (result.error or "")
        and "dog" in (result.error or "")
        and "documents" in (result.error or "")
    )


def test_classify_one_document_is_read_as_before() -> None:
    result = parse("classify", '{"label": "dog"} and some prose about a cat', Q3, classes=["cat", "dog"])
    assert result.label == "dog"


def test_classify_multi_takes_the_union_of_the_documents() -> None:
    text = '{"labels": ["cat"]}\n{"labels": ["bird", "cat"]}'
    result = parse("classify_multi", text, Q3, classes=["cat", "dog", "bird"])
    assert isinstance(result, MultiLabelClassification) and result.labels == ("cat", "bird")
    fenced = '```json\n["dog"]\n```\nand also\n```json\n["bird"]\n```'
    assert parse("classify_multi", fenced, Q3, classes=["cat", "dog", "bird"]).labels == ("dog", "bird")


class Receipt(BaseModel):
    company: str
    total: float


def test_extract_takes_the_first_document_that_validates_and_keeps_the_others() -> None:
    text = '{"company": "ACME"}\n{"company": "ACME", "total": 12.5}\n{"note": "done"}'
    result = parse("extract", text, Q3, schema=Receipt)
    assert isinstance(result, Extraction) and result.ok
    assert result.data == Receipt(company="ACME", total=12.5)
    assert result.others == ({"company": "ACME"}, {"note": "done"})
    assert "others=2" in repr(result)


def test_extract_with_fields_skips_documents_that_are_not_objects() -> None:
    text = '[1, 2]\n{"total": "5"}'
    result = parse("extract", text, Q3, schema={"total": "the amount"})
    assert result.data == {"total": "5"} and result.others == ([1, 2],)


def test_extract_reports_the_first_documents_error_when_none_validates() -> None:
    result = parse("extract", '{"company": "A"}\n{"company": "B"}', Q3, schema=Receipt)
    assert result.data is None and "does not match Receipt" in (result.error or "") and result.others == ()


def test_extract_without_schema_returns_several_values_as_one_list() -> None:
    # Issue 22: without a schema any JSON is an answer, and several values are one list (as parse_json).
    result = parse("extract", '{"a": 1}\n{"a": 2}\n[3]', Q3)
    assert result.data == [{"a": 1}, {"a": 2}, 3] and result.others == ()
    assert parse("extract", "[1, 2]\n[3]", Q3).data == [1, 2, 3]
    assert parse("extract", '{"a": 1}, {"b": 2}', Q3).data == [{"a": 1}, {"b": 2}]
    assert parse("extract", '{"a": 1}', Q3).data == {"a": 1}  # one value: as it is
    cut = parse("extract", '{"a": 1}\n{"a": 2, "b', Q3)
    assert cut.data == {"a": 1}  # a value cut off at the end is never used


def test_extract_never_uses_a_document_cut_off_at_the_end() -> None:
    whole_then_cut = parse(
        "extract", '{"company": "A", "total": 1}\n{"company": "B", "to', Q3, schema=Receipt
    )
    assert (
        whole_then_cut.ok
        and whole_then_cut.data == Receipt(company="A", total=1)
        and whole_then_cut.others == ()
    )
    only_cut = parse("extract", '[{"company": "A", "total": 1}, {"company": "B"', Q3, schema=Receipt)
    assert isinstance(only_cut.exception, TruncatedOutputError) and only_cut.data is None


def test_detect_keeps_every_box_of_every_document() -> None:
    text = (
        '[{"bbox_2d": [0, 0, 100, 100], "label": "cat"}]\n'
        'Also:\n[{"bbox_2d": [500, 500, 600, 600], "label": "dog"},\n'
        ' {"bbox_2d": [700, 0, 800, 100], "label": "dog"}]'
    )
    result = parse("detect", text, Q3, image_size=SIZE)
    assert isinstance(result, Detections) and result.labels == ["cat", "dog", "dog"]
    assert result.xyxy[1] == (500.0, 250.0, 600.0, 300.0)


def test_point_keeps_every_point_of_every_document() -> None:
    text = '{"point_2d": [100, 100], "label": "a"}\n{"point_2d": [900, 900], "label": "b"}'
    result = parse("point", text, Q3, image_size=SIZE)
    assert isinstance(result, Points) and result.labels == ["a", "b"] and result.xy[1] == (900.0, 450.0)


def test_locate_events_keeps_every_event_of_every_document() -> None:
    text = '{"event": "door opens", "start": 1.0, "end": 2.0}\n{"event": "door closes", "start": 5, "end": 6}'
    result = parse("locate_events", text, Q3)
    assert isinstance(result, Events) and [e.label for e in result] == ["door opens", "door closes"]


def test_extract_without_schema_through_the_client() -> None:
    from PIL import Image

    from qwen_vlm import QwenVLM
    from qwen_vlm.testing import FakeBackend

    backend = FakeBackend('{"item": "tea"}\n{"item": "cake"}')
    result = QwenVLM(backend=backend).extract(Image.new("RGB", (32, 32)))
    assert result.data == [{"item": "tea"}, {"item": "cake"}] and result.others == ()
    request = backend.requests[0]
    assert request.prompt == "Extract the information in this image as JSON. Output only the JSON."
    assert request.json_schema is None and request.constraint is None
