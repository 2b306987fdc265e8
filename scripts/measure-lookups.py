#!/usr/bin/env python3
"""Times list lookups against a running Roster: p50/p99 of each query over N sequential requests.

usage: measure-lookups.py BASE_URL SECRET_KEY [N]
Picks real values (an email, username, external id, user id) from the first page of users.
"""
import json
import statistics
import sys
import time
import urllib.parse
import urllib.request

base, key = sys.argv[1], sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 50
opener = urllib.request.build_opener()


def get(path):
    req = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {key}"})
    start = time.perf_counter()
    with opener.open(req) as resp:
        body = resp.read()
    return (time.perf_counter() - start) * 1000, json.loads(body)


_, page = get("/v1/users?limit=20&offset=5000")
u = page[7]
email = u["email_addresses"][0]["email_address"]
cases = {
    "GET /users/{id}": f"/v1/users/{u['id']}",
    "email_address=": "/v1/users?email_address=" + urllib.parse.quote(email),
    "username=": "/v1/users?username=" + u["username"],
    "external_id=": "/v1/users?external_id=" + u["external_id"],
    "user_id=": "/v1/users?user_id=" + u["id"],
    "query= (rare, 8 chars)": "/v1/users?query=" + u["username"][-8:],
    "query= (common: 'hopper')": "/v1/users?query=hopper",
    "email_address_query= (rare)": "/v1/users?email_address_query=" + email.split("@")[0][-8:],
    "name_query= (common)": "/v1/users?name_query=grace",
    "count query= (rare)": "/v1/users/count?query=" + u["username"][-8:],
    "list, default order": "/v1/users",
    "list, offset=100000": "/v1/users?offset=100000&limit=10",
    "order_by=username": "/v1/users?order_by=username&limit=10",
}
print(f"| request | p50 ms | p99 ms | max ms |\n|---|---:|---:|---:|")
for name, path in cases.items():
    times = sorted(get(path)[0] for _ in range(n))
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    print(f"| `{name}` | {statistics.median(times):.2f} | {p99:.2f} | {times[-1]:.2f} |")
