"""The Bale dashboard: a Flask app factory (one blueprint per feature)."""

from __future__ import annotations

from flask import Flask, render_template

from bale.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or get_settings()
    app = Flask(__name__)
    app.config["SECRET_KEY"] = settings.secret_key
    app.config["BALE_SETTINGS"] = settings

    @app.get("/")
    def index():
        return render_template("home/index.html")

    return app
