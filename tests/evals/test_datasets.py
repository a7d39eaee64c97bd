"""Each dataset source, loaded with Hugging Face ``datasets`` and never from the network."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from evals import DatasetError
from evals._dataset import load_rows
from evals._spec import DatasetSpec

ROWS = [{"q": f"question {i}", "a": f"answer {i}"} for i in range(6)]


def spec(**values: object) -> DatasetSpec:
    return DatasetSpec.model_validate(values)


def test_csv_jsonl_json_and_parquet_give_the_same_rows(tmp_path: Path) -> None:
    import datasets

    table = datasets.Dataset.from_list(ROWS)
    table.to_csv(str(tmp_path / "d.csv"), index=False)
    table.to_json(str(tmp_path / "d.jsonl"))
    table.to_parquet(str(tmp_path / "d.parquet"))
    (tmp_path / "d.json").write_text(json.dumps(ROWS))
    hashes = set()
    for name in ("d.csv", "d.jsonl", "d.json", "d.parquet"):
        loaded = load_rows(spec(path=name), tmp_path)
        assert loaded.rows == ROWS, name
        assert loaded.columns == ("q", "a")
        assert loaded.name == name
        hashes.add(loaded.content_hash)
    assert len(hashes) == 1  # the hash is of the content, not the file


def test_saved_dataset_directory_and_its_splits(tmp_path: Path) -> None:
    import datasets

    splits = datasets.DatasetDict(
        {"train": datasets.Dataset.from_list(ROWS), "test": datasets.Dataset.from_list(ROWS[:2])}
    )
    splits.save_to_disk(str(tmp_path / "saved"))
    assert len(load_rows(spec(path="saved"), tmp_path).rows) == 6
    assert load_rows(spec(path="saved", split="test"), tmp_path).rows == ROWS[:2]
    with pytest.raises(DatasetError, match="no split 'dev' \\(splits: train, test\\)"):
        load_rows(spec(path="saved", split="dev"), tmp_path)


def test_a_dataset_in_the_local_hf_cache_by_name(tmp_path: Path, hf_home: Path) -> None:
    """A dataset once downloaded is found in the cache by its Hub name, offline."""
    import datasets

    (tmp_path / "src.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    cache = hf_home / "datasets"
    built = datasets.load_dataset(
        "json", data_files=str(tmp_path / "src.jsonl"), cache_dir=str(cache)
    )
    # Where the Hub's `acme/tiny-qa` would have been prepared: <namespace>___<name>/<config>/...
    prepared = Path(built["train"].cache_files[0]["filename"]).parent
    target = cache / "acme___tiny-qa" / "default" / "0.0.0" / prepared.name
    target.parent.mkdir(parents=True)
    shutil.copytree(prepared, target)
    for arrow in target.glob("json-*.arrow"):  # files are named after the dataset
        arrow.rename(target / arrow.name.replace("json-", "tiny-qa-", 1))
    loaded = load_rows(spec(name="acme/tiny-qa", split="train", cache_dir=str(cache)), tmp_path)
    assert loaded.rows == ROWS
    assert loaded.name == "acme/tiny-qa"


def test_a_name_not_in_the_cache_is_an_error_not_a_download(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="cannot load"):
        load_rows(spec(name="acme/not-here", cache_dir=str(tmp_path)), tmp_path)


def test_inline_rows_mapping_limit_and_shuffle(tmp_path: Path) -> None:
    loaded = load_rows(spec(rows=ROWS, columns={"question": "q"}, limit=3), tmp_path)
    assert [r["question"] for r in loaded.rows] == ["question 0", "question 1", "question 2"]
    assert "question" in loaded.columns
    shuffled = load_rows(spec(rows=ROWS, shuffle=7), tmp_path)
    again = load_rows(spec(rows=ROWS, shuffle=7), tmp_path)
    assert shuffled.rows == again.rows and shuffled.rows != ROWS
    assert sorted(r["a"] for r in shuffled.rows) == [r["a"] for r in ROWS]
    assert len(load_rows(spec(rows=ROWS, limit=5), tmp_path, limit=2).rows) == 2


def test_unknown_format_and_missing_file(tmp_path: Path) -> None:
    (tmp_path / "data.txt").write_text("x")
    with pytest.raises(DatasetError, match="set `format`"):
        load_rows(spec(path="data.txt"), tmp_path)
    with pytest.raises(DatasetError, match="no such file"):
        load_rows(spec(path="nope.csv"), tmp_path)
