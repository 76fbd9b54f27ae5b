"""What `bale admin advisories check` reads from a requirements file or a pylock.toml: the
exact pins, what it names without a pin, and a clear refusal of input it cannot read (a CI
gate must not pass, or crash, on a file it did not understand)."""

from __future__ import annotations

import pytest

from bale.errors import BaleError
from bale_tools.advisories_cli import _pins


def _file(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def test_pins_and_what_is_left_unchecked(tmp_path):
    path = _file(
        tmp_path,
        "requirements.txt",
        "# via uv pip compile\n"
        "urllib3==2.0.5 \\\n    --hash=sha256:" + "0" * 64 + "\n"
        "jinja2==2.11.2\t# a tab before the comment, as pip allows\n"
        'Flask===3.0.0 ; python_version >= "3"\n'
        "requests>=2\n"
        "-r other.txt\n"
        "--index-url https://example.invalid/simple/\n",
    )
    pins, loose = _pins(path)
    assert pins == [("urllib3", "2.0.5"), ("jinja2", "2.11.2"), ("Flask", "3.0.0")]
    assert loose == ["requests>=2", "-r other.txt"]


def test_a_pylock_toml(tmp_path):
    path = _file(
        tmp_path,
        "pylock.toml",
        'lock-version = "1.0"\n[[packages]]\nname = "urllib3"\nversion = "2.0.6"\n'
        '[[packages]]\nname = "local-thing"\n',
    )
    assert _pins(path) == ([("urllib3", "2.0.6")], ["local-thing"])


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("pylock.toml", "lock-version = \n", "pylock.toml is not valid TOML"),
        ("pyproject.toml", '[project]\nname = "x"\n', "pyproject.toml is not a pylock.toml"),
        ("pylock.toml", 'lock-version = "1.0"\n[[packages]]\nversion = "1"\n', "needs a name"),
        ("pylock.toml", 'lock-version = "1.0"\npackages = "x"\n', "needs a name"),
        ("requirements.txt", b"\xff\xfeu\x00r\x00", "requirements.txt is not UTF-8 text"),
        ("requirements.txt", "urllib3==banana\n", "cannot read 'urllib3==banana'"),
    ],
)
def test_unreadable_input_is_refused_clearly(tmp_path, name, content, message):
    with pytest.raises(BaleError) as exc:
        _pins(_file(tmp_path, name, content))
    assert message in exc.value.message and exc.value.status == 400
