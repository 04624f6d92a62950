from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from payments.services.api_tokens import api_token_issue
from payments.services.host import host_origin


class Command(BaseCommand):
    help = (
        "Issue a bearer token for the JSON API acting as USERNAME. The token is printed once; "
        "only its hash is stored. Revoke it in the admin (API tokens)."
    )

    def add_arguments(self, parser):
        parser.add_argument("username", help="The user whose permissions the token acts with.")
        parser.add_argument(
            "--name", default="", help='What the token is for, e.g. "IVR staging integration".'
        )

    def handle(self, *args, username, name, **options):
        User = get_user_model()
        user = User.objects.filter(**{User.USERNAME_FIELD: username}).first()
        if user is None:
            raise CommandError(
                f'There is no user "{username}". Create the user first (or check the spelling).'
            )
        if not user.is_active:
            raise CommandError(f'User "{username}" is inactive: activate it before issuing tokens.')
        if len(name) > 100:
            raise CommandError("--name is longer than 100 characters: shorten it.")
        token, raw_token = api_token_issue(
            user=user, name=name, origin=host_origin("issue_api_token")
        )
        self.stdout.write(raw_token)
        self.stderr.write(
            f"Token {token.prefix}… for {username} issued. It is shown this once and cannot be "
            "recovered: store it in the integration's secret store now. "
            'Use it as "Authorization: Bearer <token>".'
        )
