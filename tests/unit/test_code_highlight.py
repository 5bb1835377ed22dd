"""Fenced code found in Markdown source and its Pygments colour spans (Qt-free)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from workbench.ui.code_highlight import (
    DARK_STYLE,
    LIGHT_STYLE,
    MAX_HIGHLIGHT_CHARS,
    FencedCode,
    fenced_blocks,
    highlight,
    lexer_for,
    style_name,
)


def test_fenced_blocks_keep_the_code_exactly() -> None:
    code = "def f(x):\n\tif x:  \n\n        return 1  "
    markdown = f"Intro\n\n```python title=demo.py\n{code}\n```\n\nMore text.\n"
    assert fenced_blocks(markdown) == [FencedCode("python", code, 2, 7)]


def test_fences_in_lists_quotes_and_longer_fences() -> None:
    markdown = textwrap.dedent("""\
        - item

          ```sh
          ls
            -l
          ```
        > ```c
        > int x;
        > ```
        ````md
        ```
        inner
        ```
        ````
        ~~~
        tilde `ok`
        ~~~
        ```not`a fence
        """)
    found = [(block.language, block.code) for block in fenced_blocks(markdown)]
    assert found == [("sh", "ls\n  -l"), ("c", "int x;"), ("md", "```\ninner\n```"),
                     ("", "tilde `ok`")]


def test_an_unclosed_fence_runs_to_the_end() -> None:
    assert fenced_blocks("Cut off:\n```js\nlet a = 1;\nlet b") == \
        [FencedCode("js", "let a = 1;\nlet b", 1, 3)]
    assert fenced_blocks("no code here") == []
    assert fenced_blocks("windows\r\n```py\r\nx = 1\r\n```\r\n")[0].code == "x = 1"


def test_python_is_coloured_with_offsets_into_the_code() -> None:
    code = "import os\n\ndef area(r):\n    # radius\n    return 'pi' * r\n"
    spans = highlight(code, "python", LIGHT_STYLE)
    assert spans
    pieces = {code[s.start:s.start + s.length].strip(): s for s in spans}
    assert pieces["import"].color and pieces["import"].bold
    assert pieces["# radius"].italic
    assert pieces["def"].color != pieces["'pi'"].color
    assert "area(r)" not in pieces and "r" not in pieces  # plain names keep the text colour
    ends = [0] + [s.start + s.length for s in spans]
    assert all(s.start >= end for s, end in zip(spans, ends, strict=False))  # in order
    assert all(s.length > 0 for s in spans) and ends[-1] <= len(code)


def test_tabs_and_trailing_spaces_do_not_shift_offsets() -> None:
    code = "if x:\t  \n\treturn 'tab'  \n"
    spans = highlight(code, "py", LIGHT_STYLE)
    texts = [code[s.start:s.start + s.length].strip() for s in spans]
    assert "'tab'" in texts and "return" in texts and "if" in texts


def test_unknown_or_missing_language_stays_plain() -> None:
    assert highlight("foo bar", "nosuchlanguage", LIGHT_STYLE) == []
    assert highlight("def f(): pass", "", LIGHT_STYLE) == []  # no guessing from the text
    assert lexer_for("nosuchlanguage") is None
    assert highlight("", "python", LIGHT_STYLE) == []
    assert highlight("x = 1\n" * (MAX_HIGHLIGHT_CHARS // 6 + 1), "python", LIGHT_STYLE) == []


def test_a_shebang_names_the_lexer() -> None:
    lexer = lexer_for("", "#!/usr/bin/env python3\nprint(1)\n")
    assert lexer is not None and "python" in lexer.aliases
    assert highlight("#!/bin/bash\necho hi\n", "", LIGHT_STYLE)
    assert lexer_for("JS") is not None  # names are case-insensitive


def test_the_dark_style_differs_from_the_light_one() -> None:
    assert style_name(dark=True) == DARK_STYLE and style_name(dark=False) == LIGHT_STYLE
    code = "def f():\n    return 'x'\n"
    light, dark = highlight(code, "python", LIGHT_STYLE), highlight(code, "python", DARK_STYLE)
    assert [s.color for s in light] != [s.color for s in dark]


def test_a_long_answer_is_highlighted_in_full() -> None:
    code = "\n".join(f"def f{i}(x):\n    return x * {i}  # c" for i in range(200))
    spans = highlight(code, "python", LIGHT_STYLE)
    assert sum(code[s.start:s.start + s.length].strip() == "def" for s in spans) == 200


def test_importing_it_loads_no_qt() -> None:
    probe = ("import sys, workbench.ui.code_highlight; "
             "print(','.join(m for m in sys.modules if m.startswith(('PySide6', 'shiboken6'))))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=60, check=True).stdout.strip()
    assert out == ""
