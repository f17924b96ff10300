"""The admin UI's route table, added to ``origin.app``'s routes."""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from origin.admin import duplicates, image_page, library, login, status_page, upload
from origin.admin.rendering import STATIC_DIR

ADMIN = "/admin"
IMAGE = "/admin/images/{image_id}"


def admin_routes() -> list[BaseRoute]:
    return [
        Route(ADMIN, library.library, methods=["GET"]),
        Route(f"{ADMIN}/login", login.show_login, methods=["GET"]),
        Route(f"{ADMIN}/login", login.log_in, methods=["POST"]),
        Route(f"{ADMIN}/logout", login.log_out, methods=["POST"]),
        Route(f"{ADMIN}/upload", upload.show, methods=["GET"]),
        Route(IMAGE, image_page.show, methods=["GET"]),
        Route(f"{IMAGE}/text", image_page.save_text, methods=["POST"]),
        Route(f"{IMAGE}/tags", image_page.add_tag, methods=["POST"]),
        Route(f"{IMAGE}/tags/remove", image_page.remove_tag, methods=["POST"]),
        Route(f"{IMAGE}/focal", image_page.save_focal, methods=["POST"]),
        Route(f"{IMAGE}/delete", image_page.delete, methods=["POST"]),
        Route(f"{IMAGE}/crops", image_page.crops, methods=["GET"]),
        Route(f"{IMAGE}/url", image_page.signed_url, methods=["GET"]),
        Route(f"{ADMIN}/duplicates", duplicates.show, methods=["GET"]),
        Route(f"{ADMIN}/duplicates/keep", duplicates.keep, methods=["POST"]),
        Route(f"{ADMIN}/duplicates/dismiss", duplicates.dismiss, methods=["POST"]),
        Route(f"{ADMIN}/status", status_page.show, methods=["GET"]),
        Mount(f"{ADMIN}/static", app=StaticFiles(directory=STATIC_DIR), name="admin-static"),
    ]
