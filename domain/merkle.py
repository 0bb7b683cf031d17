"""RFC 6962 / RFC 9162 Merkle trees (SHA-256): leaf and node hashes, tree heads,
inclusion and consistency proofs — made and checked. Pure: no I/O.

A tree's nodes are read through a :data:`Nodes` callable giving the hash of the
complete subtree ``(level, index)`` (leaves ``index·2^level … (index+1)·2^level − 1``),
so a store that keeps those subtrees answers every proof in O(log n) reads;
:func:`needed_nodes` says which ones a proof reads, before it is made.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

Nodes = Callable[[int, int], bytes]
"""``(level, index)`` → the hash of that complete subtree."""


class ProofError(ValueError):
    """A proof that does not prove what it claims (or a request no proof answers)."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def split(size: int) -> int:
    """The largest power of two below ``size`` (``size`` ≥ 2)."""
    return 1 << ((size - 1).bit_length() - 1)


def subtree(nodes: Nodes, start: int, end: int) -> bytes:
    """MTH of leaves ``start … end − 1`` (``start`` aligned as in every RFC 6962 range)."""
    size = end - start
    if size & (size - 1) == 0 and start % size == 0:
        level = size.bit_length() - 1
        return nodes(level, start >> level)
    k = split(size)
    return node_hash(subtree(nodes, start, start + k), subtree(nodes, start + k, end))


def root(nodes: Nodes, size: int) -> bytes:
    return subtree(nodes, 0, size) if size else EMPTY_ROOT


def inclusion_proof(nodes: Nodes, index: int, size: int) -> list[bytes]:
    """PATH(index, D[size]) of RFC 6962 §2.1.1."""
    if not 0 <= index < size:
        msg = f"leaf {index} is not in a tree of {size}"
        raise ProofError(msg)
    return _path(nodes, index, 0, size)


def _path(nodes: Nodes, index: int, start: int, end: int) -> list[bytes]:
    if end - start == 1:
        return []
    mid = start + split(end - start)
    if index < mid:
        return [*_path(nodes, index, start, mid), subtree(nodes, mid, end)]
    return [*_path(nodes, index, mid, end), subtree(nodes, start, mid)]


def consistency_proof(nodes: Nodes, old: int, new: int) -> list[bytes]:
    """PROOF(old, D[new]) of RFC 6962 §2.1.2 (empty when ``old`` is 0 or ``new``)."""
    if not 0 <= old <= new:
        msg = f"no consistency proof from {old} to {new}"
        raise ProofError(msg)
    if old in (0, new):
        return []
    return _subproof(nodes, old, 0, new, complete=True)


def _subproof(nodes: Nodes, old: int, start: int, end: int, *, complete: bool) -> list[bytes]:
    if start + old == end:
        return [] if complete else [subtree(nodes, start, end)]
    k = split(end - start)
    if old <= k:
        return [
            *_subproof(nodes, old, start, start + k, complete=complete),
            subtree(nodes, start + k, end),
        ]
    return [
        *_subproof(nodes, old - k, start + k, end, complete=False),
        subtree(nodes, start, start + k),
    ]


def needed_nodes(prove: Callable[[Nodes], object]) -> set[tuple[int, int]]:
    """The ``(level, index)`` subtrees ``prove`` reads (proofs read the same nodes
    whatever their hashes are), so a store can fetch them in one query."""
    wanted: set[tuple[int, int]] = set()

    def record(level: int, index: int) -> bytes:
        wanted.add((level, index))
        return EMPTY_ROOT

    prove(record)
    return wanted


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], head: bytes
) -> None:
    """RFC 9162 §2.1.3.2; raises :class:`ProofError` unless ``proof`` puts ``leaf`` (its
    hash) at ``index`` in the tree of ``size`` whose root is ``head``."""
    if not 0 <= index < size:
        msg = f"leaf {index} is not in a tree of {size}"
        raise ProofError(msg)
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            msg = "the inclusion proof is too long"
            raise ProofError(msg)
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0 or r != head:
        msg = f"the inclusion proof of leaf {index} does not lead to the root of {size}"
        raise ProofError(msg)


def verify_consistency(
    old: int, new: int, proof: Sequence[bytes], old_root: bytes, new_root: bytes
) -> None:
    """RFC 9162 §2.1.4.2; raises :class:`ProofError` unless the tree of ``new`` with root
    ``new_root`` extends the tree of ``old`` with root ``old_root``."""
    if not 0 <= old <= new:
        msg = f"a tree of {old} cannot grow into a tree of {new}"
        raise ProofError(msg)
    if old in (0, new):
        if proof or (old == new and old_root != new_root):
            msg = f"trees of {old} and {new}: not consistent"
            raise ProofError(msg)
        return
    if not proof:
        msg = "the consistency proof is empty"
        raise ProofError(msg)
    path = [old_root, *proof] if old & (old - 1) == 0 else list(proof)
    fr, sr, sn = _walk_consistency(old - 1, new - 1, path)
    if sn != 0 or fr != old_root or sr != new_root:
        msg = f"the tree of {new} does not extend the tree of {old} with that root"
        raise ProofError(msg)


def _walk_consistency(fn: int, sn: int, path: list[bytes]) -> tuple[bytes, bytes, int]:
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            msg = "the consistency proof is too long"
            raise ProofError(msg)
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr, sr, sn


def frontier(size: int) -> list[tuple[int, int]]:
    """The ``(level, index)`` of the complete subtrees a tree of ``size`` ends with,
    largest first: what it takes to append to it."""
    found, start = [], 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            found.append((level, start >> level))
            start += 1 << level
    return found


class CompactRange:
    """The roots of the complete subtrees of a growing tree (at most one per level):
    appends leaves in O(log n) memory, gives the root at any moment, and the
    ``(level, index, hash)`` of every complete subtree each append completes."""

    def __init__(self, size: int = 0, stack: Sequence[bytes] = ()) -> None:
        """Empty, or resumed from a tree of ``size`` and the hashes of its
        :func:`frontier`."""
        if len(stack) != size.bit_count():
            msg = f"a tree of {size} has {size.bit_count()} frontier subtrees, not {len(stack)}"
            raise ValueError(msg)
        self.size = size
        self._stack = list(stack)  # largest subtree first

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add a leaf hash; returns the subtrees it completed, the leaf itself first."""
        completed = [(0, self.size, leaf)]
        node, level, index = leaf, 0, self.size
        while (self.size >> level) & 1:
            node = node_hash(self._stack.pop(), node)
            level, index = level + 1, index >> 1
            completed.append((level, index, node))
        self._stack.append(node)
        self.size += 1
        return completed

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        node = self._stack[-1]
        for left in reversed(self._stack[:-1]):
            node = node_hash(left, node)
        return node


def root_of(leaves: Iterable[bytes]) -> bytes:
    """The root of a tree of these leaf hashes."""
    tree = CompactRange()
    for leaf in leaves:
        tree.append(leaf)
    return tree.root()
