from tests.admin.fixtures import (  # noqa: F401
    admin_client,
    persona,
    service_client,
    user_client,
)
