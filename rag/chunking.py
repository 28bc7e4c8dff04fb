"""Split documents into llama-index nodes sized in tiktoken tokens.

Abstracts are usually one chunk; long texts are split on sentence boundaries with
overlap. Every chunk carries its document's metadata; only the title is added to
the text that gets embedded (it is the strongest topical signal a chunk has).
"""

from __future__ import annotations

from pathlib import PurePath

from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode

from .models import Document
from .offline import get_encoding

# Metadata keys hidden from the embedding and from prompts (they are bookkeeping).
_HIDDEN = [
    "doc_id", "authors", "year", "source", "source_file", "source_name", "also_in", "chunk", "n_chunks", "abstract",
    "doi", "url", "arxiv_id", "cite_key", "venue",
]


IDENTIFIERS = ("doi", "url", "arxiv_id", "cite_key", "venue")  # stored when known


def node_id(doc_id: str, chunk: int) -> str:
    return f"{doc_id}-{chunk}"


class Chunker:
    def __init__(self, chunk_size: int, chunk_overlap: int) -> None:
        enc = get_encoding("cl100k_base")
        self._splitter = SentenceSplitter(
            chunk_size=chunk_size,
            chunk_overlap=min(chunk_overlap, chunk_size // 2),
            tokenizer=lambda text: enc.encode(text, disallowed_special=()),
            include_metadata=False,  # the title is short; don't shrink chunks for it
        )

    def chunks(self, doc: Document) -> list[TextNode]:
        texts = self._splitter.split_text(doc.abstract) or [doc.abstract]
        base = {
            "doc_id": doc.doc_id,
            "title": doc.title,
            "source": doc.source,
            "source_file": doc.source_file,
            "source_name": PurePath(doc.source_file).name,
            "n_chunks": len(texts),
        }
        if doc.authors:
            base["authors"] = "; ".join(doc.authors)
        if doc.year is not None:
            base["year"] = doc.year
        if doc.also_in:
            base["also_in"] = " | ".join(doc.also_in)
        for key in IDENTIFIERS:
            if value := getattr(doc, key):
                base[key] = value
        nodes = []
        for i, text in enumerate(texts):
            meta = {**base, "chunk": i}
            if i == 0 and len(texts) > 1:
                meta["abstract"] = doc.abstract  # the whole text, for document() lookups
            node = TextNode(
                id_=node_id(doc.doc_id, i),
                text=text,
                metadata=meta,
                excluded_embed_metadata_keys=list(_HIDDEN),
                excluded_llm_metadata_keys=list(_HIDDEN),
                metadata_template="{value}",
                text_template="{metadata_str}\n{content}",
            )
            node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=doc.doc_id)
            nodes.append(node)
        return nodes
