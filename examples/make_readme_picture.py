"""Draw the README's detection picture with the SDK itself (a scripted answer, no model needed).

python examples/make_readme_picture.py      # writes docs/images/detection.png
"""

from pathlib import Path

from qwen_vlm import QwenVLM
from qwen_vlm.testing import FakeBackend

ROOT = Path(__file__).resolve().parent.parent
answer = (
    '[{"bbox_2d": [110, 280, 420, 755], "label": "house"}, {"bbox_2d": [800, 75, 925, 265], "label": "sun"},'
    ' {"bbox_2d": [468, 432, 732, 565], "label": "sign"}]'
)
detections = QwenVLM(backend=FakeBackend(answer)).detect(ROOT / "examples" / "sample.jpg", ["house", "sun", "sign"])
detections.draw().save(ROOT / "docs" / "images" / "detection.png")
print(detections)
