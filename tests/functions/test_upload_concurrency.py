"""Races: concurrent uploads of distinct files all land; of one filename, exactly one wins."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor

import requests

from factories import wheel_bytes, wheel_name
from uploads import form_for, post


def test_concurrent_distinct_uploads_all_land(stack):
    from bale.packages.service import Packages

    token = stack.token()
    versions = [f"1.0.{i}" for i in range(24)]

    def upload(v):
        data = wheel_bytes("racer", v)
        return post(stack, *form_for(wheel_name("racer", v), data), token=token)

    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(upload, versions))
    assert [r.status_code for r in results] == [200] * len(versions), [
        r.text for r in results if r.status_code != 200
    ]
    page = Packages(stack.stores).page("acme", "main", "racer")
    assert sorted(e["v"] for e in page.files) == sorted(versions)
    assert page.serial == len(versions)
    assert len(stack.stores.blobs.list()) == 2 * len(versions)


def test_concurrent_same_filename_exactly_one_wins(stack):
    from bale.packages.service import Packages

    token = stack.token()
    contents = [wheel_bytes("contested", "1.0", payload=f"# variant {i}\n".encode()) for i in range(12)]

    def upload(data):
        return post(stack, *form_for(wheel_name("contested", "1.0"), data), token=token)

    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(upload, contents))
    codes = [r.status_code for r in results]
    assert codes.count(200) == 1, [(r.status_code, r.text) for r in results]
    assert codes.count(400) == len(contents) - 1
    assert all("File already exists" in r.text for r in results if r.status_code == 400)
    winner = contents[codes.index(200)]
    rec = Packages(stack.stores).file("acme", "main", "contested", wheel_name("contested", "1.0"))
    assert rec.sha256 == hashlib.sha256(winner).hexdigest()
    # The losers removed their blobs: only the winner's file and its METADATA remain.
    assert sorted(stack.stores.blobs.list()) == sorted([rec.blob_path, rec.metadata_path])
    assert len(Packages(stack.stores).page("acme", "main", "contested").files) == 1


def test_concurrent_first_uploads_of_new_projects_all_reach_the_list(stack):
    """Each upload that creates a project adds it to the index's catalog in its own batch."""
    token = stack.token()
    names = [f"fresh-{i:02d}" for i in range(24)]
    wheels = {name: wheel_bytes(name, "1.0") for name in names}  # the same bytes for both uploads

    def upload(name):
        return post(stack, *form_for(wheel_name(name, "1.0"), wheels[name]), token=token)

    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(upload, names + names))  # each project twice: racing first uploads
    assert [r.status_code for r in results] == [200] * len(results), [
        r.text for r in results if r.status_code != 200
    ]
    listed = requests.get(
        f"{stack.url}/simple/acme/main/",
        headers={
            "Authorization": f"Bearer {stack.token('read')}",
            "Accept": "application/vnd.pypi.simple.v1+json",
        },
        timeout=30,
    ).json()
    assert [p["name"] for p in listed["projects"]] == names
