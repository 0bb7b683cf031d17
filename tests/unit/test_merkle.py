"""RFC 6962 hashing and proofs against the published vectors (transparency-dev/merkle
``testonly/constants.go`` and ``proof/verify_test.go``), and properties: every proof
made verifies, and a changed leaf, root or proof does not."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.merkle import (
    EMPTY_ROOT,
    CompactRange,
    Nodes,
    ProofError,
    consistency_proof,
    frontier,
    inclusion_proof,
    leaf_hash,
    needed_nodes,
    root,
    root_of,
    verify_consistency,
    verify_inclusion,
)

LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
ROOTS = [
    EMPTY_ROOT.hex(),
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
H = {
    "l1": "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "l0": "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "l4": "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "l6": "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    "n10": "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "n11": "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "n12": "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
    "n13": "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    "n20": "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "n21": "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
}
INCLUSION = [  # (leaf index, tree size, proof) — the vectors' leaf numbers are 1-based
    (0, 1, []),
    (0, 8, ["l1", "n11", "n21"]),
    (5, 8, ["l4", "n13", "n20"]),
    (2, 3, ["n10"]),
    (1, 5, ["l0", "n11", "l4"]),
]
CONSISTENCY = [
    (1, 1, []),
    (1, 8, ["l1", "n11", "n21"]),
    (6, 8, ["n12", "n13", "n20"]),
    (2, 5, ["n11", "l4"]),
    (6, 7, ["n12", "l6", "n20"]),
]


def stored(leaves: list[bytes]) -> Nodes:
    """A tree keeping its complete subtrees, as the store does."""
    nodes: dict[tuple[int, int], bytes] = {}
    tree = CompactRange()
    for leaf in leaves:
        for level, index, digest in tree.append(leaf_hash(leaf)):
            nodes[level, index] = digest
    return lambda level, index: nodes[level, index]


def test_the_leaf_and_node_hashes_are_rfc_6962s() -> None:
    assert (
        leaf_hash(b"L123456").hex()
        == "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    )


@pytest.mark.parametrize("size", range(9))
def test_every_root_of_the_reference_tree_matches_the_vectors(size: int) -> None:
    hashes = [leaf_hash(leaf) for leaf in LEAVES[:size]]
    assert root_of(hashes).hex() == ROOTS[size]
    assert root(stored(LEAVES), size).hex() == ROOTS[size]


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_inclusion_proofs_match_the_vectors_and_verify(
    index: int, size: int, proof: list[str]
) -> None:
    made = inclusion_proof(stored(LEAVES), index, size)
    assert [p.hex() for p in made] == [H[p] for p in proof]
    verify_inclusion(leaf_hash(LEAVES[index]), index, size, made, bytes.fromhex(ROOTS[size]))


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY)
def test_consistency_proofs_match_the_vectors_and_verify(
    old: int, new: int, proof: list[str]
) -> None:
    made = consistency_proof(stored(LEAVES), old, new)
    assert [p.hex() for p in made] == [H[p] for p in proof]
    verify_consistency(old, new, made, bytes.fromhex(ROOTS[old]), bytes.fromhex(ROOTS[new]))


def test_the_vectors_refuse_wrong_sizes_roots_and_extra_hashes() -> None:
    proof = inclusion_proof(stored(LEAVES), 5, 8)
    leaf, head = leaf_hash(LEAVES[5]), bytes.fromhex(ROOTS[8])
    for index, size, path, top in (
        (4, 8, proof, head),
        (5, 16, proof, head),
        (5, 4, proof, head),
        (5, 8, [*proof, head], head),
        (5, 8, proof[:-1], head),
        (5, 8, proof, EMPTY_ROOT),
    ):
        with pytest.raises(ProofError):
            verify_inclusion(leaf, index, size, path, top)
    old, new = bytes.fromhex(ROOTS[6]), bytes.fromhex(ROOTS[8])
    made = consistency_proof(stored(LEAVES), 6, 8)
    for args in (
        (5, 8, made, old, new),
        (6, 8, made, new, old),
        (6, 8, [], old, new),
        (6, 8, made[:-1], old, new),
    ):
        with pytest.raises(ProofError):
            verify_consistency(*args)


def test_a_proof_reads_only_a_logarithmic_number_of_stored_subtrees() -> None:
    size = 1_000_000
    assert len(needed_nodes(lambda nodes: inclusion_proof(nodes, 123_456, size))) <= 2 * 20
    assert len(needed_nodes(lambda nodes: consistency_proof(nodes, 654_321, size))) <= 2 * 20


trees = st.lists(st.binary(max_size=8), min_size=1, max_size=70)


@given(trees, st.data())
def test_every_inclusion_proof_verifies_and_a_changed_leaf_does_not(
    leaves: list[bytes], data: st.DataObject
) -> None:
    size = data.draw(st.integers(1, len(leaves)))
    index = data.draw(st.integers(0, size - 1))
    nodes = stored(leaves)
    proof = inclusion_proof(nodes, index, size)
    head = root_of(leaf_hash(leaf) for leaf in leaves[:size])
    verify_inclusion(leaf_hash(leaves[index]), index, size, proof, head)
    with pytest.raises(ProofError):
        verify_inclusion(leaf_hash(leaves[index] + b"!"), index, size, proof, head)


@given(trees, st.data())
def test_every_consistency_proof_verifies_and_a_changed_leaf_does_not(
    leaves: list[bytes], data: st.DataObject
) -> None:
    new = data.draw(st.integers(1, len(leaves)))
    old = data.draw(st.integers(1, new))
    proof = consistency_proof(stored(leaves), old, new)
    hashes = [leaf_hash(leaf) for leaf in leaves]
    verify_consistency(old, new, proof, root_of(hashes[:old]), root_of(hashes[:new]))
    changed = data.draw(st.integers(0, old - 1))
    hashes[changed] = leaf_hash(leaves[changed] + b"!")
    with pytest.raises(ProofError):
        verify_consistency(old, new, proof, root_of(hashes[:old]), root(stored(leaves), new))


@given(st.lists(st.binary(max_size=4), max_size=40), st.data())
def test_a_tree_resumed_from_its_frontier_grows_as_one_never_stopped(
    leaves: list[bytes], data: st.DataObject
) -> None:
    cut = data.draw(st.integers(0, len(leaves)))
    nodes = stored(leaves)
    resumed = CompactRange(cut, [nodes(level, index) for level, index in frontier(cut)])
    for leaf in leaves[cut:]:
        resumed.append(leaf_hash(leaf))
    assert resumed.root() == root_of(leaf_hash(leaf) for leaf in leaves)
