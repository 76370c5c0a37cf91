"""Write notebooks/quickstart.ipynb and execute it offline, saving its outputs (run from anywhere).

    HF_HUB_OFFLINE=1 python notebooks/make_quickstart.py
"""

from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

cells = []
def md(text, id): cells.append(new_markdown_cell(text, id=id))
def code(text, id): cells.append(new_code_cell(text, id=id))

md("""# qwen-vlm quickstart

Run Qwen vision-language models on images and get typed results that show themselves.

**Runs top to bottom anywhere ("Run All").** The first cell loads a real model when the Hugging Face Hub
(or your cache) has it. On a machine with no network it builds a *tiny random-weight checkpoint* instead
and says so: its answers are noise, and where a cell needs a well-formed answer to show a picture, the tiny
model is *made to* write one (`scripted`). The flow, the result types and the pictures are the point.""", "intro")

code("""import os
import tempfile
from pathlib import Path

from PIL import Image

from qwen_vlm import QwenVLM, QwenVLMError
from qwen_vlm.testing import build_tiny_checkpoint, scripted

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # keep the saved notebook free of loading bars
root = Path(".") if Path("examples").exists() else Path("..")
image = Image.open(root / "examples" / "sample.jpg")
MODEL = "Qwen/Qwen3-VL-2B-Instruct"

try:
    vlm = QwenVLM(MODEL)  # local transformers: downloaded on first use, then cached
    REAL = True
    print(f"Using {MODEL}.")
except QwenVLMError as exc:
    tiny = build_tiny_checkpoint(Path(tempfile.mkdtemp()) / "tiny-qwen3-vl", "qwen3_vl")
    vlm = QwenVLM(tiny, device="cpu")
    REAL = False
    print(f"{MODEL} is not reachable here ({type(exc).__name__}).")
    print("Using a tiny random-weight Qwen3-VL checkpoint instead: its answers are noise.")


def model_for(answer: str) -> QwenVLM:
    \"\"\"The real model; offline, the tiny checkpoint made to write `answer` (to show the pictures).\"\"\"
    return vlm if REAL else QwenVLM(tiny, device="cpu", generate_kwargs=scripted(answer))""", "setup")

md("## Free text: caption, OCR, questions, your own prompt\n\nText results show their text; reasoning, when a model thinks, is folded away.", "text-md")
code("""vlm.caption(image, max_tokens=40)""", "caption")
code("""vlm.ocr(image, max_tokens=40)""", "ocr")
code("""vlm.ask(image, "What colour is the sky?", max_tokens=20)""", "ask")
code("""vlm.prompt(image, "Describe the picture in five words.", max_tokens=20)""", "prompt")

md("## Classification\n\nThe label is always one of *your* classes — or `None`, with `.error` saying why (an answer that names none of them is never a silent guess). On the local backend the answer is decoded under a grammar, and the number on each chip is that class's probability (`.scores`; see docs/scores.md).", "classify-md")
code("""model_for("house").classify(image, ["house", "car", "tree"])""", "classify")
code("""model_for('["house", "sun"]').classify_multi(image, ["house", "sun", "car"])""", "classify-multi")

md("## Detection and pointing\n\nBoxes and points are in pixels of *your* image, whatever the model family's convention. The result draws itself (`.draw()` gives the PIL image).", "detect-md")
code("""detections = model_for(
    '[{"bbox_2d": [110, 280, 420, 755], "label": "house"}, {"bbox_2d": [800, 75, 925, 265], "label": "sun"}]'
).detect(image, ["house", "sun"])
detections""", "detect")
code("""for d in detections:
    print(d.label, [round(v) for v in d.xyxy], "as the model wrote it:", d.raw_box)""", "detect-values")
code("""model_for('[{"point_2d": [263, 680], "label": "door"}, {"point_2d": [862, 170], "label": "sun"}]').point(
    image, ["door", "sun"]
)""", "point")

md("## Structured output\n\nA pydantic model (or a dict of field → description) in, validated data out.", "extract-md")
code("""from pydantic import BaseModel


class Scene(BaseModel):
    building: str
    weather: str


model_for('{"building": "a small red house", "weather": "sunny"}').extract(image, Scene).data""", "extract")

md("## Several images, and video\n\n`Images(a, b)` is one question about several pictures (a plain list stays a batch); a detection over a group says which image each box is on and draws them side by side. `Video(...)` takes a file, a URL or a list of frames with their times; `locate_events` answers in seconds of the video and draws a strip of frames with each event as a bar.", "video-md")
code("""from qwen_vlm import Images, Video

pair = Images(image, image.transpose(Image.Transpose.FLIP_LEFT_RIGHT))
model_for('[{"image": 2, "bbox_2d": [480, 520, 760, 900], "label": "door"}]').detect(pair, ["door"])""", "group-detect")
code("""# A short clip as frames with their times: the sky darkens from 10 to 13 seconds.
frames = [image.point(lambda v, k=k: int(v * (1 - 0.15 * k))) for k in range(8)]
clip = Video(frames, timestamps=[10 + 0.5 * k for k in range(8)])
# Qwen3-VL reads each frame's time from the prompt, so its seconds are the video's own.
model_for('[{"event": "the sky darkens", "start": 10.5, "end": 13.0}]').locate_events(clip, ["the sky darkens"])""", "video-events")

md("## Batches\n\nA list in, a list out: same length, same order. A failure concerns its image only — here an unreadable file is that image's failed result, and the others are kept.", "batch-md")
code("""results = vlm.caption([image, root / "examples" / "missing.jpg", image], max_tokens=8, progress=False)
for r in results:
    print(r.ok, "|", r.error or repr(r.text[:40]))""", "batch")
code("""from qwen_vlm import to_dataframe

to_dataframe([detections], per="object")""", "dataframe")

md("""## Hosted models and servers

The same methods run on OpenRouter (key from `OPENROUTER_API_KEY`) or any OpenAI-compatible server:

```python
vlm = QwenVLM("qwen/qwen3-vl-8b-instruct", backend="openrouter", privacy="zdr")
vlm = QwenVLM("Qwen/Qwen3-VL-8B-Instruct", backend="openai", base_url="http://localhost:8000/v1")
```""", "remote-md")

nb = new_notebook(cells=cells, metadata={
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"name": "python"},
})
NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}).execute()
for cell in nb.cells:
    cell.get("metadata", {}).pop("execution", None)
nbformat.write(nb, HERE / "quickstart.ipynb")
