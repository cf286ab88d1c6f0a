"""The association's journey, written against the Python client that openapi-python-client
generates from openapi/openapi.yaml (infra/scripts/py-client.sh type-checks it with
`mypy --strict`): sign in, search the catalogue near a point, reserve a device, read the
reservation, and tell a typed 409 from a success.

Run it against a service where the association and a published device exist:
    python journey.py http://127.0.0.1:8080 asso@example.org 'password' 47.59 1.33
"""

import sys
from uuid import UUID

from reemploi_client import AuthenticatedClient, Client
from reemploi_client.api.accounts import login
from reemploi_client.api.demand import create_reservation, get_reservation
from reemploi_client.api.search import search_catalogue
from reemploi_client.models import (
    Category,
    CatalogueItem,
    LoginRequest,
    Problem,
    ProblemCode,
    ReservationRequest,
    ReservationResponse,
)


def sign_in(base_url: str, email: str, password: str) -> AuthenticatedClient:
    answer = login.sync_detailed(
        client=Client(base_url=base_url), body=LoginRequest(email=email, password=password)
    )
    if not isinstance(answer.parsed, Problem) and answer.parsed is not None:
        return AuthenticatedClient(
            base_url=base_url, token=answer.parsed.token, headers={"Accept-Language": "fr"}
        )
    raise SystemExit(f"sign-in refused: {answer.status_code} {answer.content!r}")


def nearest_laptop(client: AuthenticatedClient, lat: float, lon: float) -> CatalogueItem | None:
    page = search_catalogue.sync(
        client=client, category=[Category.LAPTOP], lat=lat, lon=lon, within_km=30.0
    )
    if page is None or isinstance(page, Problem):
        return None
    return page.items[0] if page.items else None


def reserve(client: AuthenticatedClient, item: UUID) -> ReservationResponse | ProblemCode:
    answer = create_reservation.sync_detailed(
        client=client, body=ReservationRequest(item_ids=[item])
    )
    made = answer.parsed
    if isinstance(made, Problem):
        # 409 `item_not_available`: another association holds it now.
        return made.code
    if made is None:
        raise SystemExit(f"unexpected answer {answer.status_code}")
    read = get_reservation.sync(id=made.id, client=client)
    if not isinstance(read, ReservationResponse):
        raise SystemExit("the reservation cannot be read back")
    assert [i.id for i in read.items] == [item]
    return read


def main(argv: list[str]) -> int:
    base_url, email, password, lat, lon = argv[1:6]
    client = sign_in(base_url, email, password)
    found = nearest_laptop(client, float(lat), float(lon))
    if found is None:
        print("aucun portable à moins de 30 km")
        return 1
    outcome = reserve(client, found.id)
    if isinstance(outcome, ProblemCode):
        print(f"refusé : {outcome.value}")
        return 1 if outcome is not ProblemCode.ITEM_NOT_AVAILABLE else 2
    print(f"réservé jusqu'au {outcome.expires_at:%d/%m/%Y} : {found.brand} {found.model}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
