"""The redis-om-python 1.2.0 side of tests/python_compat.rs.

Run with the interpreter that scripts/python-om installs; REDIS_OM_URL names the
server. Subcommands (results as JSON on stdout):
  schemas         {model: schema text}
  migrate         runs redis-om-python's Migrator over these models
  save            saves the documents of side "py", prints {model: [pk, ...]}
  check JSON      gets and finds the documents of side "rs" whose pks JSON lists
  blob-save       saves a PyBlob (bytes fields) per BLOBS case, prints [pk, ...]
  blob-check JSON gets the PyBlobs Rust saved (pks JSON lists, one per case)
  geo-schemas     {model: schema text} of the geo models
  geo-save        saves PLACES (names "py-…") as PyPlace and PyPlaceDoc,
                  prints {"hash": [pk, ...], "json": [pk, ...]}
  geo-get JSON    {"hash": [[lon, lat] | null, ...], "json": ...} of the pks
                  JSON lists ({"hash": [...], "json": [...]})
  geo-find LON LAT RADIUS UNIT
                  {"hash": [name, ...], "json": [...]}: sorted names within
  vec-schemas     {model: schema text} of PyVec
  vec-save        saves VECTORS (names "py-…") as PyVec, prints [pk, ...]
  vec-get JSON    [embedding, ...] of the PyVecs whose pks JSON lists
  vec-knn JSON K  [[name, score], ...]: the K nearest PyVecs to the vector JSON
The models mirror the Rust ones in tests/python_compat.rs field by field, and
expected() the Rust side's expected(): keep them in step.
"""
import datetime
import enum
import json
import struct
import sys
import uuid
from typing import List, Optional

from redis_om import (
    Coordinates,
    EmbeddedJsonModel,
    Field,
    GeoFilter,
    HashModel,
    JsonModel,
    KNNExpression,
    Migrator,
    VectorFieldOptions,
)

G = "om-test-py"
UTC = datetime.timezone.utc


class Status(str, enum.Enum):
    ACTIVE = "active"
    ON_HOLD = "on_hold"


class PyHash(HashModel, index=True):
    name: str = Field(index=True)
    nickname: Optional[str] = None
    age: int = Field(index=True, sortable=True)
    active: bool = Field(index=True)
    score: float = 0.0
    joined: datetime.datetime = Field(index=True)
    bio: str = Field(full_text_search=True)
    code: str = Field(index=True, case_sensitive=True)
    status: Status = Field(index=True)
    maybe: Optional[str] = Field(index=True, default=None)
    born: datetime.date = Field(index=True)
    ref: uuid.UUID = Field(index=True)

    class Meta:
        global_key_prefix = G
        model_key_prefix = "PyHash"


class PyHashPk(HashModel, index=True):
    name: str = Field(index=True, sortable=True)
    id: int = Field(primary_key=True)
    note: Optional[str] = None

    class Meta:
        global_key_prefix = G
        model_key_prefix = "PyHashPk"


class Address(EmbeddedJsonModel, index=True):
    city: str = Field(index=True)
    street: str = ""


class Order(EmbeddedJsonModel, index=True):
    name: str = Field(index=True)
    qty: int = 0


class PyJson(JsonModel, index=True):
    name: str = Field(index=True)
    note: Optional[str] = None
    tags: List[str] = Field(index=True)
    age: int = Field(index=True, sortable=True)
    address: Address
    orders: List[Order] = []
    title: str = Field(full_text_search=True, sortable=True)
    flag: bool = Field(index=True)
    created: datetime.datetime = Field(index=True)
    extra: List[str] = []

    class Meta:
        global_key_prefix = G
        model_key_prefix = "PyJson"


class PyJsonPk(JsonModel, index=True):
    title: str = Field(index=True)
    note: str = ""
    code: str = Field(primary_key=True)
    count: int = Field(index=True, sortable=True)

    class Meta:
        global_key_prefix = G
        model_key_prefix = "PyJsonPk"


MODELS = {m.__name__: m for m in [PyHash, PyHashPk, PyJson, PyJsonPk]}


class PyBlob(JsonModel, index=True):
    """bytes in a JsonModel: stored as base64 text (redis_om::base64 in Rust).
    Python needs index=True to make keys; nothing of it is indexed but the pk."""
    data: bytes
    maybe: Optional[bytes] = None

    class Meta:
        global_key_prefix = G
        model_key_prefix = "PyBlob"


# The same cases as BLOBS in tests/python_compat.rs.
BLOBS = [b"", b"\x00", b"\xff\xfe\x00\n", bytes(range(256)), "h\u00e9llo".encode()]


class PyPlace(HashModel, index=True):
    """Coordinates in a HashModel (Place in tests/python_compat.rs)."""
    name: str = Field(index=True)
    location: Optional[Coordinates] = Field(index=True, default=None)

    class Meta:
        global_key_prefix = G
        model_key_prefix = "PyPlace"


class PyInstant(HashModel, index=True):
    """An instant in a HashModel (PyInstant in tests/python_compat.rs)."""
    name: str = Field(index=True)
    at: datetime.datetime = Field(index=True)

    class Meta:
        global_key_prefix = G
        model_key_prefix = "PyInstant"


class PyInstantDoc(JsonModel, index=True):
    """An instant in a JsonModel (PyInstantDoc in tests/python_compat.rs)."""
    name: str = Field(index=True)
    at: datetime.datetime = Field(index=True)

    class Meta:
        global_key_prefix = G
        model_key_prefix = "PyInstantDoc"


EPOCH = datetime.datetime(1970, 1, 1, tzinfo=UTC)


class PyPlaceDoc(JsonModel, index=True):
    """Coordinates in a JsonModel (PlaceDoc in tests/python_compat.rs)."""
    name: str = Field(index=True)
    location: Optional[Coordinates] = Field(index=True, default=None)

    class Meta:
        global_key_prefix = G
        model_key_prefix = "PyPlaceDoc"


# (name, longitude, latitude); the same as PLACES in tests/python_compat.rs.
PLACES = [
    ("Portland", -122.6765, 45.5231),
    ("Nearby", -122.6665, 45.5331),
    ("Lyon", 4.8357, 45.764),
    ("East", 179.95, 0.0),
    ("Nowhere", None, None),
]


def place(model, i):
    name, lon, lat = PLACES[i]
    return model(name="py-" + name, location=None if lon is None else (lat, lon))


class PyVec(JsonModel, index=True):
    """A vector in a JsonModel (PyVec in tests/python_compat.rs). Hash vectors
    are not shared: redis-om-python stores them as base64 text."""
    name: str = Field(index=True)
    embedding: List[float] = Field(
        [],
        vector_options=VectorFieldOptions.flat(
            type=VectorFieldOptions.TYPE.FLOAT32,
            dimension=4,
            distance_metric=VectorFieldOptions.DISTANCE_METRIC.COSINE,
        ),
    )
    score: Optional[float] = None

    class Meta:
        global_key_prefix = G
        model_key_prefix = "PyVec"


# (name, embedding); the same as VECTORS in tests/python_compat.rs.
VECTORS = [
    ("x", [1.0, 0.0, 0.0, 0.0]),
    ("xy", [0.7, 0.7, 0.0, 0.0]),
    ("z", [0.0, 0.0, 1.0, 0.0]),
]


def blob(i):
    return PyBlob(data=BLOBS[i], maybe=None if i % 2 else BLOBS[i])
N = 3


def expected(model, side, i):
    """Document i of side "py" or "rs" (the Rust test builds the same)."""
    when = datetime.datetime(2024, 1, 2 + i, 8, 30, tzinfo=UTC)
    if model is PyHash:
        return PyHash(
            name=f"{side}-{i}",
            nickname=None if i % 2 else f"nick{i}",
            age=30 + i,
            active=i % 2 == 0,
            score=i * 1.5,
            joined=when,
            bio=f"{side} likes redis number {i}",
            code=f"Code-{side}-{i}",
            status=Status.ACTIVE if i % 2 else Status.ON_HOLD,
            maybe=None if i % 2 else f"m{i}",
            born=datetime.date(1990, 1, 1 + i),
            ref=uuid.UUID(int=i + (1 if side == "py" else 100)),
        )
    if model is PyHashPk:
        return PyHashPk(
            name=f"{side}-{i}",
            id=(1000 if side == "py" else 2000) + i,
            note=None if i % 2 else "a note",
        )
    if model is PyJson:
        return PyJson(
            name=f"{side}-{i}",
            note=None if i % 2 else "a note",
            tags=[side, f"t{i}"],
            age=30 + i,
            address=Address(city=f"city-{side}-{i}", street="Main St"),
            orders=[Order(name=f"o{i}", qty=i)],
            title=f"{side} title {i}",
            flag=i % 2 == 0,
            created=when,
            extra=["e"],
        )
    return PyJsonPk(
        title=f"{side}-{i}", note="", code=f"{side}-code-{i}", count=i
    )


def comparable(doc):
    """A document as plain data: datetimes as timestamps, the pk left out."""
    data = doc.model_dump()
    data.pop("pk", None)

    def plain(v):
        if isinstance(v, datetime.datetime):
            return v.timestamp()
        if isinstance(v, (datetime.date, uuid.UUID)):
            return str(v)
        if isinstance(v, enum.Enum):
            return v.value
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items() if k != "pk"}
        if isinstance(v, list):
            return [plain(x) for x in v]
        return v

    return plain(data)


def check(pks):
    problems = []
    for name, keys in pks.items():
        model = MODELS[name]
        for i, pk in enumerate(keys):
            want = expected(model, "rs", i)
            got = model.get(pk)
            if comparable(got) != comparable(want):
                problems.append(f"{name}.get({pk}): {comparable(got)} != {comparable(want)}")
            # find by an indexed TAG field
            if model is PyJsonPk:
                found = model.find(model.title == f"rs-{i}").all()
            else:
                found = model.find(model.name == f"rs-{i}").all()
            if [str(d.pk) for d in found] != [str(pk)]:
                problems.append(f"{name}.find(name == rs-{i}): {[d.pk for d in found]}")
        # numeric and embedded queries
        if model in (PyHash, PyJson):
            n = len(model.find((model.age >= 30) & (model.name == "rs-1")).all())
            if n != 1:
                problems.append(f"{name}.find(age >= 30 & name == rs-1): {n}")
        if model is PyJson:
            found = model.find(model.address.city == "city-rs-2").all()
            if len(found) != 1:
                problems.append(f"PyJson.find(address.city == city-rs-2): {len(found)}")
        if model is PyHash:
            found = model.find(model.code == "Code-rs-0").all()
            if len(found) != 1:
                problems.append(f"PyHash.find(code == Code-rs-0): {len(found)}")
            found = model.find(
                (model.status == Status.ON_HOLD) & (model.maybe == "m2") & (model.name == "rs-2")
            ).all()
            if len(found) != 1:
                problems.append(f"PyHash.find(status, maybe): {len(found)}")
            found = model.find(model.born >= datetime.date(1990, 1, 2)).all()
            if sorted(d.name for d in found if d.name.startswith("rs")) != ["rs-1", "rs-2"]:
                problems.append(f"PyHash.find(born >= 1990-01-02): {[d.name for d in found]}")
    return problems


def main():
    cmd = sys.argv[1]
    if cmd == "schemas":
        print(json.dumps({n: m.redisearch_schema() for n, m in MODELS.items()}))
    elif cmd == "migrate":
        Migrator().run()
        print("{}")
    elif cmd == "save":
        out = {}
        for name, model in MODELS.items():
            out[name] = []
            for i in range(N):
                doc = expected(model, "py", i)
                doc.save()
                out[name].append(str(doc.pk))
        print(json.dumps(out))
    elif cmd == "check":
        problems = check(json.loads(sys.argv[2]))
        print(json.dumps(problems))
        sys.exit(1 if problems else 0)
    elif cmd == "blob-save":
        pks = []
        for i in range(len(BLOBS)):
            doc = blob(i)
            doc.save()
            pks.append(str(doc.pk))
        print(json.dumps(pks))
    elif cmd == "blob-check":
        problems = []
        for i, pk in enumerate(json.loads(sys.argv[2])):
            got, want = PyBlob.get(pk), blob(i)
            if (got.data, got.maybe) != (want.data, want.maybe):
                problems.append(f"PyBlob.get({pk}): {(got.data, got.maybe)!r} != {(want.data, want.maybe)!r}")
        print(json.dumps(problems))
        sys.exit(1 if problems else 0)
    elif cmd == "geo-schemas":
        print(json.dumps({m.__name__: m.redisearch_schema() for m in (PyPlace, PyPlaceDoc)}))
    elif cmd == "geo-save":
        out = {"hash": [], "json": []}
        for side, model in (("hash", PyPlace), ("json", PyPlaceDoc)):
            for i in range(len(PLACES)):
                doc = place(model, i)
                doc.save()
                out[side].append(str(doc.pk))
        print(json.dumps(out))
    elif cmd == "geo-get":
        pks = json.loads(sys.argv[2])
        out = {}
        for side, model in (("hash", PyPlace), ("json", PyPlaceDoc)):
            out[side] = []
            for pk in pks[side]:
                loc = model.get(pk).location
                out[side].append(None if loc is None else [loc.longitude, loc.latitude])
        print(json.dumps(out))
    elif cmd == "geo-find":
        lon, lat, radius, unit = float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
        out = {}
        for side, model in (("hash", PyPlace), ("json", PyPlaceDoc)):
            found = model.find(
                model.location == GeoFilter(longitude=lon, latitude=lat, radius=radius, unit=unit)
            ).all()
            out[side] = sorted(d.name for d in found)
        print(json.dumps(out))
    elif cmd == "instant-schemas":
        print(json.dumps({m.__name__: m.redisearch_schema() for m in (PyInstant, PyInstantDoc)}))
    elif cmd == "instant-save":
        # argv: a run tag, then the instants as microseconds since the epoch.
        tag, micros = sys.argv[2], json.loads(sys.argv[3])
        out = {"hash": [], "json": []}
        for side, model in (("hash", PyInstant), ("json", PyInstantDoc)):
            for k, us in enumerate(micros):
                doc = model(name=f"py-{tag}-{k}", at=EPOCH + datetime.timedelta(microseconds=us))
                doc.save()
                out[side].append(str(doc.pk))
        print(json.dumps(out))
    elif cmd == "instant-find":
        # The names of the documents found by `at == instant`, per instant.
        tag, micros = sys.argv[2], json.loads(sys.argv[3])
        out = {"hash": [], "json": []}
        for side, model in (("hash", PyInstant), ("json", PyInstantDoc)):
            for us in micros:
                at = EPOCH + datetime.timedelta(microseconds=us)
                found = model.find(model.at == at).all()
                out[side].append(sorted(d.name for d in found if tag in d.name))
        print(json.dumps(out))
    elif cmd == "vec-schemas":
        print(json.dumps({"PyVec": PyVec.redisearch_schema()}))
    elif cmd == "vec-save":
        pks = []
        for name, embedding in VECTORS:
            doc = PyVec(name="py-" + name, embedding=embedding)
            doc.save()
            pks.append(str(doc.pk))
        print(json.dumps(pks))
    elif cmd == "vec-get":
        print(json.dumps([PyVec.get(pk).embedding for pk in json.loads(sys.argv[2])]))
    elif cmd == "vec-knn":
        vector, k = json.loads(sys.argv[2]), int(sys.argv[3])
        knn = KNNExpression(
            k=k,
            vector_field=PyVec.embedding,
            score_field=PyVec.score,
            reference_vector=struct.pack(f"<{len(vector)}f", *vector),
        )
        found = PyVec.find(knn=knn).all()
        print(json.dumps([[d.name, d.score] for d in found]))
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
