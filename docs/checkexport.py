#!/usr/bin/env python3
"""Check an AgentMint audit export without AgentMint: every line's leaf
hash and inclusion proof against the checkpoint's root (RFC 9162 2.1.3.2).
The checkpoint's signature is checked separately, with openssl; see
audit.md. Standard library only.

usage: python3 checkexport.py EXPORT_DIR
"""
import base64, hashlib, json, sys

def leaf_bytes(entry):
    # The canonical leaf: sorted members, no white space, UTF-8 as is.
    # (An entry with "evidence" keeps that member's own byte order; this
    # sketch re-encodes it compactly, which matches what AgentMint writes.)
    return json.dumps(entry, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")

def node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()

def root_from_proof(index, size, leaf_hash, proof):
    # RFC 9162 section 2.1.3.2.
    if index >= size:
        raise ValueError("index past the tree")
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            raise ValueError("proof too long")
        if fn & 1 or fn == sn:
            r = node(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ValueError("proof too short")
    return r

def check(ok, what):
    # Not assert: python -O would skip it and pass a tampered export.
    if not ok:
        sys.exit("export does not verify: " + what)

def main(d):
    origin, size, root = open(d + "/checkpoint").read().split("\n")[:3]
    size, root = int(size), base64.b64decode(root)
    n = 0
    for line in open(d + "/entries.jsonl"):
        x = json.loads(line)
        e = x["entry"]
        h = hashlib.sha256(b"\x00" + leaf_bytes(e)).digest()
        check(h == base64.b64decode(x["leaf_hash"]), f"entry {e['index']}: leaf hash")
        check(x["tree_size"] == size, f"entry {e['index']}: tree size")
        proof = [base64.b64decode(p) for p in x["inclusion_proof"]]
        got = root_from_proof(e["index"], size, h, proof)
        check(got == root, f"entry {e['index']}: proof does not reach the root")
        n += 1
    print(f"{n} entries are in the tree of {origin} at size {size}")

main(sys.argv[1])
