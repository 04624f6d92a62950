"""VCC's base URLs per region: the one place their defaults are written down."""

# The Authentication API bases are documented per region; the Payment API base is not (the one
# here is seen in a public integration), so both stay editable per account.
REGION_BASE_URLS = {
    "emea": ("https://emea.cc.vonage.com", "https://emea.api.newvoicemedia.com/globalpci"),
    "nam": ("https://nam.cc.vonage.com", "https://nam.api.newvoicemedia.com/globalpci"),
    "apac": ("https://apac.cc.vonage.com", "https://apac.api.newvoicemedia.com/globalpci"),
}


def base_urls(
    region: str, *, auth_base_url: str = "", payment_base_url: str = ""
) -> tuple[str, str]:
    """The (auth, payment) base URLs: the ones given, else the region's, without a final slash."""
    auth_default, payment_default = REGION_BASE_URLS.get(str(region), ("", ""))
    return (
        (auth_base_url or auth_default).rstrip("/"),
        (payment_base_url or payment_default).rstrip("/"),
    )
