#!/usr/bin/env python3
"""Public-API hygiene of quorate's published crates, from rustdoc JSON.

Usage: scripts/api_hygiene.py TARGET_DOC_DIR CRATE [CRATE ...]
(crate names with underscores; TARGET_DOC_DIR holds <crate>.json written by
`rustdoc --output-format json`; scripts/package-check produces them).

Checks, over every item reachable from each crate's root through public modules and
re-exports:

1. No dependency type in a public signature unless it is part of the API on purpose: every
   path in a public function or method signature, a public field, an enum variant, a trait
   (its items, supertraits, bounds), a type alias, a constant or static, generic bounds and
   where clauses, and a trait impl's trait and self type, must resolve to the standard
   library, to the crate itself, to another quorate crate (one release train), to an item
   the crate re-exports, or to a crate in ALLOWED below (each with the reason it is API).
2. `#[non_exhaustive]` on public error enums (an enum named `*Error`, or implementing
   `std::error::Error`) and on public error/configuration structs that expose public fields
   (`*Error`, `*Config`, `*Options`, `*Settings`): adding a variant or a field must not be a
   breaking change. A struct whose fields are all private needs nothing. Items listed in
   EXHAUSTIVE_ON_PURPOSE (with the reason) are exempt.

Prints one line per offender (`crate: item path: problem`) and exits 1 if there is any,
0 otherwise.
"""

import json
import os
import sys

# The Rust standard library.
STD = {"std", "core", "alloc", "proc_macro", "test"}

# Dependency crates whose types are deliberately part of quorate's API, and why.
ALLOWED = {
    # The wire/buffer currency of the codecs and the idempotency store's stored responses.
    "bytes": "Buf/BufMut and Bytes are the codec and response-body types",
    # serde impls behind the `serde` feature (serde_core: the traits' home since serde 1.0.220).
    "serde": "the `serde` feature implements Serialize/Deserialize",
    "serde_core": "the `serde` feature implements Serialize/Deserialize",
    # Stores run inside the caller's transaction: its transaction and connection types are the API.
    "rusqlite": "SQLite stores take the caller's Connection/Transaction",
    "postgres": "PostgreSQL stores take the caller's Client/Transaction",
    "tokio_postgres": "async PostgreSQL stores take the caller's Client/Transaction",
    "postgres_types": "ToSql/FromSql of the PostgreSQL drivers (re-exported by them)",
    # The HTTP idempotency layer is a tower Layer/Service over http types.
    "http": "the idempotency layer speaks http::Request/Response",
    "http_body": "the idempotency layer's bodies implement http_body::Body",
    "tower_layer": "the idempotency layer is a tower Layer",
    "tower_service": "the idempotency layer is a tower Service",
    # Async runtime and stream types in async entry points.
    "tokio": "async executors and relays run on tokio",
    "futures_core": "relays expose Stream",
    "futures_util": "relays expose Stream",
    # Randomness is injected (seedable) through rand 0.9's traits and SmallRng, as the crate
    # docs say (quorate-retry's Backoff/RetryPlanner, quorate-quorum's LatencyDistribution,
    # quorate-crdt's laws::Simulation).
    "rand": "randomness is injected through rand's Rng / SmallRng (documented)",
    "rand_core": "FastRng and ThreadLocalRng implement RngCore / SeedableRng",
    # Backends the crates integrate with by design; their clients are passed in by the caller.
    "etcd_client": "the etcd lease backend takes the caller's etcd Client",
    "async_nats": "the JetStream sink takes the caller's jetstream Context",
}


# Items exempt from the #[non_exhaustive] rule, each with the reason it is deliberately
# exhaustive (e.g. `"quorate_x::Kind": "a closed set callers must match exhaustively"`).
EXHAUSTIVE_ON_PURPOSE = {}


def load(doc_dir, crate):
    path = os.path.join(doc_dir, crate + ".json")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def inner_kind(item):
    inner = item.get("inner")
    if isinstance(inner, dict) and len(inner) == 1:
        k = next(iter(inner))
        return k, inner[k]
    if isinstance(inner, str):
        return inner, None
    return None, None


def has_non_exhaustive(item):
    attrs = item.get("attrs") or []
    return "non_exhaustive" in json.dumps(attrs)


class Checker:
    def __init__(self, doc, crate):
        self.doc = doc
        self.crate = crate
        self.index = doc["index"]
        self.paths = doc.get("paths", {})
        self.externals = {str(k): v.get("name") for k, v in doc.get("external_crates", {}).items()}
        self.root = str(doc["root"])
        self.reexported = set()  # ids of external items re-exported by this crate
        self.reexported_crates = set()  # crate names re-exported whole (`pub use dep;`)
        self.problems = []
        self.seen = set()
        self.error_impls = set()  # ids of local types implementing std::error::Error

    # -- resolution -------------------------------------------------------------------
    def crate_of(self, id_):
        id_ = str(id_)
        item = self.index.get(id_)
        if item is not None and str(item.get("crate_id")) == "0":
            return self.crate
        summary = self.paths.get(id_)
        if summary is None:
            if item is not None:
                return self.externals.get(str(item.get("crate_id")), "?")
            return None
        cid = str(summary.get("crate_id"))
        if cid == "0":
            return self.crate
        return self.externals.get(cid, "?")

    def path_name(self, id_):
        summary = self.paths.get(str(id_))
        if summary:
            return "::".join(summary.get("path", []))
        return "<id %s>" % id_

    def allowed(self, id_):
        c = self.crate_of(id_)
        if c is None or c == self.crate or c in STD:
            return True
        if c == "quorate" or c.startswith("quorate_"):
            return True
        if str(id_) in self.reexported or c in self.reexported_crates:
            return True
        return c in ALLOWED

    def scan(self, value, where):
        """Reports every path in a JSON type/bound tree that resolves to a non-API crate."""
        if isinstance(value, dict):
            if "id" in value and ("path" in value or "name" in value) and "args" in value:
                id_ = value["id"]
                if not self.allowed(id_):
                    self.problems.append(
                        "%s: %s: dependency type `%s` (crate %s) in a public signature; "
                        "re-export it, or add the crate to ALLOWED in scripts/api_hygiene.py "
                        "if it is API on purpose"
                        % (self.crate, where, self.path_name(id_), self.crate_of(id_))
                    )
            for v in value.values():
                self.scan(v, where)
        elif isinstance(value, list):
            for v in value:
                self.scan(v, where)

    # -- traversal --------------------------------------------------------------------
    def collect_reexports(self):
        for item in self.index.values():
            if str(item.get("crate_id")) != "0" or item.get("visibility") != "public":
                continue
            kind, inner = inner_kind(item)
            if kind == "use" and inner:
                target = inner.get("id")
                if target is None:
                    continue
                target_crate = self.crate_of(target)
                if target_crate and target_crate != self.crate:
                    self.reexported.add(str(target))
                    summary = self.paths.get(str(target), {})
                    if summary.get("kind") == "module" and len(summary.get("path", [])) == 1:
                        self.reexported_crates.add(target_crate)

    def name(self, item, parent):
        n = item.get("name") or "?"
        return "%s::%s" % (parent, n) if parent else n

    def visit(self, id_, where):
        id_ = str(id_)
        if id_ in self.seen:
            return
        item = self.index.get(id_)
        if item is None or str(item.get("crate_id")) != "0":
            return
        self.seen.add(id_)
        kind, inner = inner_kind(item)
        here = self.name(item, where)
        if inner is None:
            return
        if kind == "module":
            # rustdoc JSON holds the public items only (private ones are stripped).
            for child in inner.get("items", []):
                self.visit(child, here if not inner.get("is_crate") else self.crate)
        elif kind == "use":
            target = inner.get("id")
            if target is not None:
                self.visit(target, where)
        elif kind in ("function",):
            self.scan(inner.get("sig"), here)
            self.scan(inner.get("generics"), here)
        elif kind == "struct":
            self.scan(inner.get("generics"), here)
            k = inner.get("kind")
            fields = []
            if isinstance(k, dict):
                if "plain" in k:
                    fields = k["plain"].get("fields", [])
                elif "tuple" in k:
                    fields = [f for f in k["tuple"] if f is not None]
            public_fields = 0
            for f in fields:
                fi = self.index.get(str(f))
                if fi is None:
                    continue
                if fi.get("visibility") == "public":
                    public_fields += 1
                    self.scan(fi.get("inner"), self.name(fi, here))
            self.struct_rule(item, here, public_fields)
            self.visit_impls(inner.get("impls", []), here)
        elif kind == "enum":
            self.scan(inner.get("generics"), here)
            for v in inner.get("variants", []):
                vi = self.index.get(str(v))
                if vi is None:
                    continue
                _, vinner = inner_kind(vi)
                vk = (vinner or {}).get("kind")
                fids = []
                if isinstance(vk, dict):
                    if "tuple" in vk:
                        fids = [f for f in vk["tuple"] if f is not None]
                    elif "struct" in vk:
                        fids = vk["struct"].get("fields", [])
                for f in fids:
                    fi = self.index.get(str(f))
                    if fi is not None:
                        self.scan(fi.get("inner"), self.name(vi, here))
            self.visit_impls(inner.get("impls", []), here)
            self.enum_rule(item, here, inner.get("impls", []))
        elif kind == "union":
            self.scan(inner.get("generics"), here)
            self.visit_impls(inner.get("impls", []), here)
        elif kind == "trait":
            self.scan(inner.get("generics"), here)
            self.scan(inner.get("bounds"), here)
            for child in inner.get("items", []):
                ci = self.index.get(str(child))
                if ci is not None:
                    self.scan(ci.get("inner"), self.name(ci, here))
        elif kind in ("type_alias", "constant", "static"):
            self.scan(inner, here)

    def visit_impls(self, impls, here):
        for i in impls:
            ii = self.index.get(str(i))
            if ii is None:
                continue
            _, inner = inner_kind(ii)
            if not inner or inner.get("is_synthetic") or inner.get("blanket_impl") is not None:
                continue
            trait = inner.get("trait")
            if trait is None:
                # Inherent impl: its public items.
                for child in inner.get("items", []):
                    ci = self.index.get(str(child))
                    if ci is not None and ci.get("visibility") == "public":
                        self.scan(ci.get("inner"), self.name(ci, here))
                continue
            tname = self.path_name(trait.get("id"))
            label = "impl %s for %s" % (tname.split("::")[-1] if tname else "?", here)
            if tname in ("std::error::Error", "core::error::Error"):
                self.error_impls.add(str(ii.get("id")))
            self.scan(trait, label)
            self.scan(inner.get("generics"), label)
            for child in inner.get("items", []):
                ci = self.index.get(str(child))
                if ci is not None:
                    self.scan(ci.get("inner"), label)

    def implements_error(self, impl_ids):
        for i in impl_ids:
            ii = self.index.get(str(i))
            if ii is None:
                continue
            _, inner = inner_kind(ii)
            trait = (inner or {}).get("trait")
            if trait and self.path_name(trait.get("id")) in ("std::error::Error", "core::error::Error"):
                return True
        return False

    def enum_rule(self, item, here, impls):
        name = item.get("name") or ""
        if here in EXHAUSTIVE_ON_PURPOSE:
            return
        if (name.endswith("Error") or self.implements_error(impls)) and not has_non_exhaustive(item):
            self.problems.append(
                "%s: %s: public error enum without #[non_exhaustive]" % (self.crate, here)
            )

    def struct_rule(self, item, here, public_fields):
        name = item.get("name") or ""
        suffixes = ("Error", "Config", "Options", "Settings")
        if here in EXHAUSTIVE_ON_PURPOSE:
            return
        if public_fields and name.endswith(suffixes) and not has_non_exhaustive(item):
            self.problems.append(
                "%s: %s: public error/config struct with public fields without #[non_exhaustive]"
                % (self.crate, here)
            )

    def run(self):
        self.collect_reexports()
        self.visit(self.root, "")
        return self.problems


def main(argv):
    if len(argv) < 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    doc_dir, crates = argv[1], argv[2:]
    problems = []
    for crate in crates:
        try:
            doc = load(doc_dir, crate)
        except (OSError, ValueError) as e:
            problems.append("%s: cannot read rustdoc JSON: %s" % (crate, e))
            continue
        found = Checker(doc, crate).run()
        print("%-22s %5d items in rustdoc JSON, %d problem(s)" % (crate, len(doc["index"]), len(found)))
        problems.extend(found)
    if problems:
        print("\nAPI hygiene: %d problem(s)" % len(problems))
        for p in sorted(set(problems)):
            print("  " + p)
        return 1
    print("API hygiene: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
