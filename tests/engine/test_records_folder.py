"""`RecordsFolder`: where Prefect's local result folder would put a record, without a
`realpath` walk of the folder each time; anything but a plain name in an absolute folder
is Prefect's answer."""

from __future__ import annotations

from pathlib import Path

import pytest
from prefect.filesystems import LocalFileSystem

from tasks.caching import RecordsFolder


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    real = tmp_path / "real 1"
    real.mkdir()
    link = tmp_path / "link_2"
    link.symlink_to(real, target_is_directory=True)
    return real, link


@pytest.mark.parametrize("name", ["vidpipe-0a1b", "key_with_underscores_42", "a.b"])
def test_a_plain_name_resolves_as_prefect_resolves_it(folders, name, walks):
    real, link = folders
    for base in (real, link, link / "not yet made"):
        ours = RecordsFolder(basepath=str(base))
        ours._resolve_path("first")  # the folder's one walk
        walks.clear()
        assert ours._resolve_path(name) == LocalFileSystem(basepath=str(base))._resolve_path(name)
        assert len(walks) == 2  # Prefect's: the folder and the record; ours: none
    assert RecordsFolder(basepath=str(link))._resolve_path(name).parent == real


def test_the_path_prefect_made_of_a_name_stays_as_it_is(folders, walks):
    """Prefect names a record by the path it resolved from the name, then resolves that
    path again at each write."""
    real, link = folders
    made = str(LocalFileSystem(basepath=str(link))._resolve_path("vidpipe-9f"))
    assert made == str(real / "vidpipe-9f")
    ours = RecordsFolder(basepath=str(link))
    ours._resolve_path("first")
    walks.clear()
    assert ours._resolve_path(made) == real / "vidpipe-9f"
    assert walks == []


@pytest.mark.parametrize("name", ["", None])
def test_the_folder_itself_is_prefects_answer_with_no_walk(folders, name, walks):
    """Prefect asks for the folder (`_resolve_path("")`) at every record it persists."""
    real, link = folders
    ours = RecordsFolder(basepath=str(link))
    ours._resolve_path("first")
    walks.clear()
    assert ours._resolve_path(name) == real
    assert walks == []
    assert LocalFileSystem(basepath=str(link))._resolve_path(name) == real
    assert walks  # Prefect's own: a walk each time


@pytest.mark.parametrize(
    "name", ["sub/key", "../escape", "..", ".", "~/x", "", None, "/elsewhere/key"]
)
def test_other_paths_are_prefects_answer(folders, name):
    real, link = folders
    ours, theirs = RecordsFolder(basepath=str(link)), LocalFileSystem(basepath=str(link))
    for also in (f"{real}/../{real.name}/k", f"{link}/k"):  # not the resolved folder's
        assert ours._resolve_path(also) == theirs._resolve_path(also)
    try:
        expected = theirs._resolve_path(name)
    except ValueError as refused:  # outside the folder: refused alike
        with pytest.raises(ValueError, match="outside of the base path"):
            ours._resolve_path(name)
        assert "outside" in str(refused)
    else:
        assert ours._resolve_path(name) == expected


def test_a_relative_folder_follows_the_working_directory(folders, monkeypatch):
    real, link = folders
    monkeypatch.chdir(link)
    here = RecordsFolder(basepath="records")._resolve_path("k")
    assert here == real / "records" / "k"
    monkeypatch.chdir(real.parent)
    assert RecordsFolder(basepath="records")._resolve_path("k") == real.parent / "records" / "k"
