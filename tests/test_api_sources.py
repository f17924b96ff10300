"""The image document says whether its title and alt-text are an AI draft or a person's."""

from __future__ import annotations

from contextlib import closing

from indexer.db import open_database
from tests.api_support import Api, first_run_key
from tests.conftest import ServerFactory, photo


def test_title_and_alt_sources(serve: ServerFactory) -> None:
    server = serve(nginx=False)
    api = Api(server, first_run_key(server))
    created = api.upload(photo("FreshFlower.jpg").read_bytes(), alt="A yellow flower")
    assert created.status_code == 201
    image_id = created.json()["id"]
    assert (created.json()["alt_source"], created.json()["title_source"]) == ("human", None)
    with closing(open_database(server.layout.database)) as connection:
        # what the CLIP worker leaves behind: a remembered draft, copied into empty fields
        connection.execute(
            "INSERT INTO ai_drafts (image_id, title, alt, model) VALUES (?, ?, ?, 'test')",
            (image_id, "Flower", "A photo of a flower"),
        )
        connection.execute("UPDATE images SET title = 'Flower' WHERE id = ?", (image_id,))
    with api.client() as client:
        shown = client.get(f"/api/images/{image_id}").json()
        assert (shown["title_source"], shown["alt_source"]) == ("ai", "human")
        edited = client.patch(f"/api/images/{image_id}", json={"title": "Sunflower"}).json()
    assert edited["title_source"] == "human"
