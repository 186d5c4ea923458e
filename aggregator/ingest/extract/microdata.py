"""Live-blog updates marked up as schema.org microdata or RDFa Lite.

Some CMSs mark each update with `itemscope itemtype=".../BlogPosting"` (or
`typeof="BlogPosting"` in RDFa) inside a `LiveBlogPosting`, or with
`itemprop="liveBlogUpdate"`. Each such item with a readable `datePublished`
(else `dateCreated`) is one update; its `headline`, `articleBody`, `author`
and `url` are read where the item gives them, and the generic reading
(`blocks`) is not needed. Fewer than one dated item means the page has no
microdata live blog.
"""

from __future__ import annotations

from collections.abc import Iterator

from lxml.html import HtmlElement

from aggregator.core.model import ExtractContext, normalise_text
from aggregator.ingest.extract.markup import Draft, Found, inner_html, web_url
from aggregator.ingest.extract.sanitize import sanitize_html
from aggregator.ingest.extract.stamps import attribute_instant
from aggregator.ingest.extract.times import anchor_time
from aggregator.ingest.extract.titles import first_sentence_title

_UPDATE_TYPES = ("BlogPosting", "NewsArticle", "Article", "SocialMediaPosting", "Comment")


def read_microdata(root: HtmlElement, ctx: ExtractContext) -> Found | None:
    """The page's microdata or RDFa updates, or None when it marks up none."""
    blocks: list[Draft] = []
    notes: list[str] = []
    items = list(_update_items(root))
    for number, item in enumerate(items, 1):
        block = _block(item, ctx)
        if block is None:
            notes.append(f"microdata update {number} has no readable datePublished; skipped")
        else:
            blocks.append(block)
    return Found(tuple(blocks), tuple(notes), items[0]) if blocks else None


def _update_items(root: HtmlElement) -> Iterator[HtmlElement]:
    """Items that are a live blog's updates: `liveBlogUpdate`, or posts inside a LiveBlogPosting."""
    for element in root.xpath("//*[@itemscope or @typeof]"):
        props = (element.get("itemprop") or element.get("property") or "").split()
        if "liveBlogUpdate" in props or (
            _type(element) in _UPDATE_TYPES
            and any(_scoped(a) and _type(a) == "LiveBlogPosting" for a in element.iterancestors())
        ):
            yield element


def _scoped(element: HtmlElement) -> bool:
    return element.get("itemscope") is not None or element.get("typeof") is not None


def _type(element: HtmlElement) -> str:
    kind = element.get("itemtype") or element.get("typeof") or ""
    return kind.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]


def _properties(item: HtmlElement) -> dict[str, HtmlElement]:
    """The item's own properties (not those of items nested inside it), first of each."""
    found: dict[str, HtmlElement] = {}
    stack = list(item)
    while stack:
        element = stack.pop(0)
        if not isinstance(element.tag, str):
            continue
        for name in (element.get("itemprop") or element.get("property") or "").split():
            found.setdefault(name.rsplit(":", 1)[-1], element)
        if element.get("itemscope") is None and element.get("typeof") is None:
            stack[:0] = list(element)
    return found


def _value(element: HtmlElement) -> str:
    for attribute in ("content", "datetime", "href", "src"):
        value = element.get(attribute)
        if value:
            return str(value)
    return normalise_text(element.text_content())


def _block(item: HtmlElement, ctx: ExtractContext) -> Draft | None:
    props = _properties(item)
    published = None
    for name in ("datePublished", "dateCreated"):
        if name in props:
            published = attribute_instant(
                "datetime", _value(props[name]), ctx.timezone, anchor_time(ctx)
            )
            if published is not None:
                break
    if published is None:
        return None
    body = props.get("articleBody", props.get("text"))
    content = sanitize_html(inner_html(body if body is not None else item), ctx.page_url).strip()
    headline = normalise_text(props["headline"].text_content()) if "headline" in props else ""
    text = normalise_text((body if body is not None else item).text_content())
    author_element = props.get("author")
    author = None
    if author_element is not None:
        author_props = _properties(author_element)
        named = author_props.get("name")
        author = normalise_text((named if named is not None else author_element).text_content())
    url = props.get("url")
    identity = web_url(ctx.page_url, _value(url)) if url is not None else None
    if identity is None and item.get("id"):
        identity = web_url(ctx.page_url, f"#{item.get('id')}")
    return Draft(
        title=headline or (first_sentence_title(text) if text else "untitled update"),
        content_html=content,
        published=published,
        author=author or None,
        notes=(),
        identity=identity,
        link=identity,
        basis="stated",
    )
