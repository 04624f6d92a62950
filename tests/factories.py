import factory
from django.contrib.auth.models import Group, User

from payments.models import (
    AccountConfiguration,
    AccountKind,
    AllowedEnvironments,
    ApiCredential,
    PaymentFlow,
    PciEnvironment,
    Region,
    Stage,
    VccAccount,
)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery")

    @factory.post_generation
    def groups(self, create, names, **kwargs):
        if create and names:
            self.groups.set(Group.objects.filter(name__in=names))
            self.save()


class VccAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = VccAccount
        django_get_or_create = ["name"]

    name = factory.Sequence(lambda n: f"Account {n}")
    kind = AccountKind.SANDBOX
    region = Region.EMEA
    auth_base_url = "http://127.0.0.1:8100"
    payment_base_url = "http://127.0.0.1:8100/globalpci"


class ApiCredentialFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ApiCredential
        skip_postgeneration_save = True

    account = factory.SubFactory(VccAccountFactory)
    label = factory.Sequence(lambda n: chr(ord("A") + n % 26) + str(n))
    client_id = factory.Sequence(lambda n: f"client-{n}")
    allowed_environments = AllowedEnvironments.BOTH
    # Through the constructor, as any caller may: save() derives the fingerprint.
    client_secret = factory.LazyAttribute(
        lambda credential: (
            credential.secret
            if credential.secret is not None
            else f"secret-value-{credential.client_id}"
        )
    )

    class Params:
        secret = None


class PciEnvironmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PciEnvironment
        django_get_or_create = ["name"]

    stage = Stage.STAGING
    name = factory.LazyAttribute(lambda env: f"PCI Pal {env.stage}")


class PaymentFlowFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PaymentFlow

    environment = factory.SubFactory(PciEnvironmentFactory)
    number = factory.Sequence(lambda n: 700 + n)
    name = "Card payment"


class AccountConfigurationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AccountConfiguration

    account = factory.SubFactory(VccAccountFactory)
    configuration_id = factory.Sequence(lambda n: n + 1)
    flow = factory.SubFactory(PaymentFlowFactory)
