"""A replica of the seed's AI Manager server, for the benchmark only (benchmarks/server_bench.py).

The seed's design as its README describes it: a Flask app on Flask's development server
(threaded), keeping messages in an in-memory list and printing each message it receives.
Nothing is validated, authenticated or stored durably.

    python benchmarks/seed_replica_server.py PORT
"""

from __future__ import annotations

import sys
from datetime import datetime

from flask import Flask, jsonify, request

app = Flask(__name__)
messages: list = []


@app.route("/")
def index():
    return "Welcome to the AI Manager API server. Use POST /receive to send messages."


@app.route("/receive", methods=["POST"])
def receive():
    data = request.get_json()
    messages.append(data)
    print(f"Received message: {data}")
    return jsonify({"status": "success", "message": "Message received"}), 200


@app.route("/messages")
def get_messages():
    return jsonify(messages)


@app.route("/aggregate")
def aggregate():
    counts = dict.fromkeys(
        (
            "high_demand_count",
            "deficit_count",
            "surplus_count",
            "undercharged_count",
            "optimal_count",
        ),
        0,
    )
    for m in messages:
        text = m["message"].lower()
        counts["high_demand_count"] += text.count("high demand")
        counts["deficit_count"] += text.count("deficit")
        counts["surplus_count"] += text.count("surplus")
        counts["undercharged_count"] += text.count("undercharged")
        counts["optimal_count"] += text.count("optimal")
    action = (
        "Increase token burn rate and adjust procurement."
        if counts["high_demand_count"] + counts["deficit_count"] > counts["surplus_count"]
        else "Maintain current operations."
    )
    return jsonify(
        {
            "action": action,
            "details": counts,
            "timestamp": datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
        }
    )


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]) if len(sys.argv) > 1 else 9000)
