from tests.admin.fixtures import (  # noqa: F401
    admin_client,
    persona,
    user_client,
)
