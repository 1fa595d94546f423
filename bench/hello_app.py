"""A bare Flask app: the baseline every benchmark compares against."""

from flask import Flask

app = Flask(__name__)


@app.route("/health")
def health():
    return "ok"


@app.route("/api/consent", methods=["GET", "POST"])
@app.route("/matomo.php", methods=["GET", "POST"])
def hello():
    return "hello"
