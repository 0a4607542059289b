"""The HTTP routes, one router per resource, each built for one app's `Service`:

| module | routes |
|---|---|
| `decisions` | `POST /v1/resolve`, `POST /v1/resolve/batch`, `GET`/`POST /v1/ping` (baselines) |
| `labels` | `POST /v1/labels`, `GET /v1/deferred` |
| `admin` | `GET /v1/policy`, `POST /v1/admin/reload` |
| `ops` | `GET /healthz`, `GET /readyz`, `GET /metrics` |

The request models are generated from the domain file, so each router is made per app (a
function of the Service), and these modules do not use postponed annotations: FastAPI reads the
generated classes from the handlers' signatures.
"""
