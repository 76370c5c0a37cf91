"""Every prompt the SDK sends, in one place (pure functions).

The text built here is sent verbatim as the user message, after the image. ``docs/prompts.md`` shows each
one exactly as sent; ``PROMPT_VERSION`` changes whenever any wording changes, so results can be traced to
the prompts that produced them. Phrasings follow Qwen's official cookbooks (see ``docs/prompts.md``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "PROMPT_VERSION",
    "caption_prompt",
    "classify_multi_prompt",
    "classify_prompt",
    "detect_prompt",
    "document_prompt",
    "extract_prompt",
    "for_group",
    "group_detect_prompt",
    "group_ocr_prompt",
    "group_point_prompt",
    "locate_events_prompt",
    "ocr_prompt",
    "point_prompt",
    "presence_prompt",
    "video_frames_note",
]

#: Changes whenever the wording of any prompt changes.
PROMPT_VERSION = "2026-12-06.1"


def _quoted(classes: Sequence[str]) -> str:
    return ", ".join(json.dumps(c, ensure_ascii=False) for c in classes)


def ocr_prompt() -> str:
    """Plain OCR: every piece of text, in reading order, nothing else."""
    return (
        "Read all the text in the image, in reading order, line by line. "
        "Output only the text, without any commentary."
    )


def caption_prompt(detailed: bool) -> str:
    """A one-sentence caption, or a detailed paragraph."""
    if detailed:
        return (
            "Describe this image in detail in one paragraph: the main subjects and what they are doing, "
            "their appearance, the setting, and any visible text."
        )
    return "Describe this image in one sentence."


def classify_prompt(classes: Sequence[str]) -> str:
    """Single-label classification, constrained to ``classes``, answered as JSON."""
    return (
        f"Classify this image into exactly one of the following classes: {_quoted(classes)}. "
        'Answer in JSON format as {"label": "<class>"}, using one of the classes exactly as written.'
    )


def classify_multi_prompt(classes: Sequence[str]) -> str:
    """Multi-label classification: the subset of ``classes`` present, answered as a JSON list."""
    return (
        f"Which of the following classes are present in this image: {_quoted(classes)}? "
        "Answer in JSON format with a list of the classes that are present, using the classes exactly "
        "as written, or [] if none of them are."
    )


def presence_prompt(label: str) -> str:
    """A yes/no question about one class (the local backend's multi-label scores read its answer)."""
    return f"Does this image contain {json.dumps(label, ensure_ascii=False)}? Answer yes or no."


def detect_prompt(classes: Sequence[str] | None) -> str:
    """Object detection, in the phrasing Qwen-VL was trained on (one box per instance)."""
    if classes:
        categories = ", ".join(classes)
        return (
            f'Locate every instance that belongs to the following categories: "{categories}". '
            'Report bbox coordinates in JSON format as a list of {"bbox_2d": [x1, y1, x2, y2], '
            '"label": "<category>"}.'
        )
    return (
        "Locate every distinct prominent object in this image and give each a short label. "
        'Report bbox coordinates in JSON format as a list of {"bbox_2d": [x1, y1, x2, y2], '
        '"label": "<label>"}.'
    )


def point_prompt(classes: Sequence[str]) -> str:
    """Point grounding: one point per instance."""
    categories = ", ".join(classes)
    return (
        f'Locate every instance that belongs to the following categories: "{categories}". '
        'Output the point coordinates in JSON format as a list of {"point_2d": [x, y], '
        '"label": "<category>"}.'
    )


def extract_prompt(fields: Mapping[str, str] | None, json_schema: Mapping[str, Any] | None) -> str:
    """Structured extraction from field descriptions or a JSON schema (neither: any JSON the image gives)."""
    if json_schema is not None:
        schema = json.dumps(json_schema, ensure_ascii=False)
        return (
            "Extract information from this image as one JSON object that follows this JSON schema:\n"
            f"{schema}\n"
            "Use null for values that are not visible. Output only the JSON object."
        )
    if fields is None:
        return "Extract the information in this image as JSON. Output only the JSON."
    lines = "\n".join(f"- {json.dumps(k, ensure_ascii=False)}: {v}" for k, v in fields.items())
    return (
        "Extract the following fields from this image and answer in JSON format with one object "
        f"that has exactly these keys:\n{lines}\n"
        "Use null for a field that is not visible. Output only the JSON object."
    )


def for_group(prompt: str, images: int) -> str:
    """A one-image prompt asked about a group: "this image" becomes "these N images"."""
    return prompt.replace("this image", f"these {images} images").replace(
        "This image", f"These {images} images"
    )


def group_ocr_prompt(images: int) -> str:
    """OCR of several pages: each page's text under its own header line, so it can be split again."""
    return (
        f"Read all the text in each of these {images} images, in reading order, line by line. "
        'Start the text of each image with a line "Image N:" (its number, 1 for the first image). '
        "Output only the text, without any commentary."
    )


def group_detect_prompt(classes: Sequence[str] | None, images: int) -> str:
    """Detection over a group: every object says which image (1 to N) it is in."""
    what = (
        f'every instance that belongs to the following categories: "{", ".join(classes)}"'
        if classes
        else "every distinct prominent object, with a short label,"
    )
    return (
        f"Locate {what} in these {images} images. Report bbox coordinates in JSON format as a list of "
        f'{{"image": <image number, 1 to {images}>, "bbox_2d": [x1, y1, x2, y2], "label": "<category>"}}, '
        "with coordinates in that image."
    )


def group_point_prompt(classes: Sequence[str], images: int) -> str:
    """Pointing over a group: every point says which image (1 to N) it is in."""
    return (
        f'Locate every instance that belongs to the following categories: "{", ".join(classes)}" in these '
        f"{images} images. Output the point coordinates in JSON format as a list of "
        f'{{"image": <image number, 1 to {images}>, "point_2d": [x, y], "label": "<category>"}}, '
        "with coordinates in that image."
    )


def locate_events_prompt(events: Sequence[str]) -> str:
    """Temporal grounding: when each event happens, in seconds, as JSON."""
    return (
        f"Find when each of the following events happens in the video: {_quoted(events)}. "
        'Answer in JSON format as a list of {"event": "<event>", "start": <seconds>, "end": <seconds>}, '
        "with times in seconds, or [] if none of them happens."
    )


def video_frames_note(timestamps: Sequence[float]) -> str:
    """Said before a video sent as separate frames (servers without video input): each frame's time."""
    return (
        f"The following {len(timestamps)} images are frames of one video, in order, taken at these times "
        f"(seconds): {', '.join(f'{t:.1f}' for t in timestamps)}."
    )


#: Whole-page document prompts, by format: Qwen's own triggers (QwenLM cookbooks' document parsing),
#: olmOCR's ``build_no_anchoring_v4_yaml_prompt`` and dots.ocr's ``prompt_layout_all_en``, word for word.
DOCUMENT_PROMPTS = {
    "qwenvl-html": "QwenVL HTML",
    "qwenvl-markdown": "QwenVL Markdown",
    "olmocr": (
        "Attached is one page of a document that you must process. "
        "Just return the plain text representation of this document as if you were reading it naturally. "
        "Convert equations to LateX and tables to HTML.\n"
        "If there are any figures or charts, label them with the following markdown syntax "
        "![Alt text describing the contents of the figure](page_startx_starty_width_height.png)\n"
        "Return your output as markdown, with a front matter section on top specifying values for the "
        "primary_language, is_rotation_valid, rotation_correction, is_table, and is_diagram parameters."
    ),
    "dots": (
        "Please output the layout information from the PDF image, including each layout element's bbox, its "
        "category, and the corresponding text content within the bbox.\n\n"
        "1. Bbox format: [x1, y1, x2, y2]\n\n"
        "2. Layout Categories: The possible categories are ['Caption', 'Footnote', 'Formula', 'List-item', "
        "'Page-footer', 'Page-header', 'Picture', 'Section-header', 'Table', 'Text', 'Title'].\n\n"
        "3. Text Extraction & Formatting Rules:\n"
        "    - Picture: For the 'Picture' category, the text field should be omitted.\n"
        "    - Formula: Format its text as LaTeX.\n"
        "    - Table: Format its text as HTML.\n"
        "    - All Others (Text, Title, etc.): Format their text as Markdown.\n\n"
        "4. Constraints:\n"
        "    - The output text must be the original text from the image, with no translation.\n"
        "    - All layout elements must be sorted according to human reading order.\n\n"
        "5. Final Output: The entire output must be a single JSON object.\n"
    ),
    "markdown": (
        "Convert this page to Markdown. Read all of its text in reading order, with headings as Markdown "
        "headings, tables as HTML and equations as LaTeX. Leave out page headers, footers and page numbers. "
        "Output only the Markdown."
    ),
}


def document_prompt(format: str) -> str:
    """A whole page read in one of the document formats (:data:`DOCUMENT_PROMPTS`)."""
    return DOCUMENT_PROMPTS[format]
