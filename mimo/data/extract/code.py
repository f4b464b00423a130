"""Code pre-pass: <pre>/<code> blocks, highlighted spans and line-number gutters -> verbatim
fenced markdown blocks held behind placeholder tokens."""

from __future__ import annotations

import re

from lxml import etree
from lxml.html import HtmlElement

from mimo.data.extract.placeholders import PlaceholderTable, replace_block

_GUTTER = re.compile(r"(?:^|\s)(?:gutter|linenos?|linenodiv|lineno|line-numbers?-rows|line-numbers?|"
                     r"blob-num|hljs-ln-numbers|ln-num|rouge-gutter|code-line-number)(?:\s|$)")
_LANG_PATTERNS = (
    re.compile(r"(?:^|\s)(?:language|lang)-([\w+#.-]+)"),
    re.compile(r"(?:^|\s)highlight-(?:source-)?([\w+#.-]+)"),
    re.compile(r"brush:\s*([\w+#.-]+)"),
)
_LANG_HOSTS = ("sourceCode", "highlight", "syntaxhighlighter", "hljs", "prettyprint", "codehilite", "code")
_KNOWN = {
    "python", "py", "python3", "javascript", "js", "typescript", "ts", "java", "c", "cpp", "c++",
    "csharp", "cs", "go", "golang", "rust", "ruby", "rb", "php", "bash", "sh", "shell", "zsh",
    "console", "sql", "html", "xml", "css", "scss", "json", "yaml", "yml", "toml", "r", "matlab",
    "julia", "haskell", "scala", "kotlin", "swift", "lua", "perl", "latex", "tex", "diff",
    "makefile", "dockerfile", "powershell", "objectivec", "ocaml", "fortran", "elixir", "erlang",
    "clojure", "dart", "groovy", "ini", "nginx", "jsx", "tsx", "vb", "asm", "nasm", "cuda", "sas",
}
_ALIASES = {"py": "python", "python3": "python", "js": "javascript", "ts": "typescript",
            "rb": "ruby", "cs": "csharp", "c++": "cpp", "sh": "bash", "yml": "yaml", "golang": "go"}
_NO_LANG = {"none", "text", "plain", "plaintext", "nohighlight", "txt", "output", "default", "source"}
_CODE_TABLE_CLASS = re.compile(r"highlight|code|syntax|blob|rouge")
_BLOCK_TAGS = frozenset({"div", "p", "li", "tr", "table", "ul", "ol", "section", "figure", "pre", "h1",
                         "h2", "h3", "h4", "h5", "h6", "blockquote", "dd", "dt"})
_DROP_TAGS = frozenset({"button", "script", "style", "noscript", "svg"})


def _cls(el: HtmlElement) -> str:
    return el.get("class") or ""


def _norm_lang(raw: str) -> str | None:
    lang = raw.strip().lower().rstrip(";")
    if not lang or lang in _NO_LANG:
        return None
    return _ALIASES.get(lang, lang)


def _language(chain: list[HtmlElement]) -> str | None:
    """Declared language from the element, its code child and a few ancestors."""
    for el in chain:
        for attr in ("data-lang", "data-language", "lang"):
            if attr == "lang" and el.tag not in ("pre", "code"):
                continue
            if el.get(attr):
                return _norm_lang(el.get(attr, ""))
        cls = _cls(el)
        for pat in _LANG_PATTERNS:
            m = pat.search(cls)
            if m:
                return _norm_lang(m.group(1))
        tokens = cls.split()
        if any(h in tokens for h in _LANG_HOSTS):
            for tok in tokens:
                if tok.lower() in _KNOWN:
                    return _norm_lang(tok)
    return None


def code_text(el: HtmlElement) -> str:
    """Verbatim text of a code element: <br> and block children become newlines, line-number
    gutters and copy buttons are dropped, indentation and blank lines kept."""
    out: list[str] = []
    walker = etree.iterwalk(el, events=("start", "end"))
    for event, node in walker:
        if not isinstance(node.tag, str):
            if event == "end" and node is not el and node.tail:
                out.append(node.tail)
            continue
        if event == "start":
            if node is not el and (node.tag in _DROP_TAGS or _GUTTER.search(_cls(node))):
                walker.skip_subtree()
                if node.tail:
                    out.append(node.tail)
                continue
            if node.tag == "br":
                out.append("\n")
            elif node.text:
                out.append(node.text)
        else:
            if node is el:
                break
            if node.tag in _BLOCK_TAGS and out and not out[-1].endswith("\n"):
                out.append("\n")
            if node.tail:
                out.append(node.tail)
    text = "".join(out).replace("\r\n", "\n").replace("\r", "\n").replace("\xa0", " ")
    lines = text.split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(line.rstrip() for line in lines)


def _fence(code: str, lang: str | None) -> str:
    fence = "```"
    while fence in code:
        fence += "`"
    return f"{fence}{lang or ''}\n{code}\n{fence}"


def _table_code(table_el: HtmlElement) -> str | None:
    """Code of a highlight table: a code cell (Pygments/hexo) or GitHub blob rows."""
    rows = table_el.xpath(".//td[contains(@class,'blob-code')]")
    if rows:
        return "\n".join(code_text(td) for td in rows)
    cells = [td for td in table_el.iter("td") if "code" in _cls(td).split()]
    if cells:
        return code_text(cells[0])
    return None


def _is_code_table(el: HtmlElement) -> bool:
    if el.tag != "table" or len(el.xpath(".//pre")) > 2:
        return False
    return bool(_CODE_TABLE_CLASS.search(_cls(el))) or any(_GUTTER.search(_cls(td)) for td in el.iter("td"))


def _outer(el: HtmlElement) -> tuple[HtmlElement, list[HtmlElement]]:
    """Element to replace (a highlight table around ``el``) and the language chain."""
    chain = [el] + [c for c in el if c.tag == "code"]
    target = el
    for depth, anc in enumerate(el.iterancestors()):
        if depth >= 5:
            break
        chain.append(anc)
        if _is_code_table(anc):
            target = anc
    return target, chain


_WRAPPER_TAGS = frozenset({"div", "figure", "section", "span", "p"})
_CHROME = re.compile(r"toolbar|copy|btn|button|clipboard|caption|header|filename|lang", re.IGNORECASE)


def _climb_wrappers(el: HtmlElement) -> HtmlElement:
    """Outermost wrapper holding nothing but this code block (and copy buttons/toolbars): the
    placeholder must replace it, since trafilatura may drop a wrapper like ``div.code-toolbar``."""
    target = el
    for _ in range(4):
        parent = target.getparent()
        if parent is None or parent.tag not in _WRAPPER_TAGS or (parent.text or "").strip():
            break
        others = [c for c in parent if c is not target and isinstance(c.tag, str)]
        if any((c.tail or "").strip() for c in parent) or any(
                c.tag not in ("button", "svg") and not _CHROME.search(c.get("class") or "")
                and c.text_content().strip() for c in others):
            break
        target = parent
    return target


def protect_code(root: HtmlElement, table: PlaceholderTable) -> int:
    """Replace code blocks by tokens; returns how many were protected."""
    n = 0
    done: set[HtmlElement] = set()
    candidates = list(root.xpath("//table[.//td[contains(@class,'blob-code')]]"
                                 "|//div[contains(@class,'syntaxhighlighter')][.//td]"))
    candidates += [el for el in root.iter("pre") if not any(a.tag == "pre" for a in el.iterancestors())]
    candidates += [el for el in root.iter("code")
                   if "\n" in el.text_content().strip() and not any(a.tag == "pre" for a in el.iterancestors())]
    for el in candidates:
        if el in done or el.getparent() is None or any(a in done for a in el.iterancestors()):
            continue
        wrapper = el.tag in ("table", "div")
        target, chain = (el, [el]) if wrapper else _outer(el)
        code = _table_code(target) if target.tag in ("table", "div") else None
        if code is None:
            code, target = code_text(el), el
        done.add(target)
        if not code.strip():
            continue
        lang = _language(chain)
        target = _climb_wrappers(target)
        _unfigure(target)
        replace_block(target, table.new("code", _fence(code, lang), True))
        n += 1
    return n


def _unfigure(el: HtmlElement) -> None:
    """A ``<figure>`` around a code listing becomes a ``<div>``: trafilatura drops figures as images
    (it does the same for figures that hold a table)."""
    for depth, anc in enumerate(el.iterancestors()):
        if depth >= 3:
            break
        if anc.tag == "figure":
            anc.tag = "div"
