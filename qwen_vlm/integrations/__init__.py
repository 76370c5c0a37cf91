"""Integrations with other engines. Each module imports its engine only when used.

- :mod:`qwen_vlm.integrations.ray`: any task over a Ray Data dataset (``pip install "qwen-vlm[ray]"``).
"""
