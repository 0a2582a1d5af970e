"""The forges' OAuth endpoints and profile fields, for coordinators signing in to the web app."""

from __future__ import annotations

from dataclasses import dataclass

from issuebot.config import OAuthSettings

GITLAB_URL = "https://gitlab.com"


@dataclass(frozen=True)
class OAuthEndpoints:
    """Where a forge's OAuth app sends people and where the signed-in user is read."""

    authorize_url: str
    access_token_url: str
    api_base_url: str
    profile_path: str
    username_field: str
    scope: str


def endpoints(settings: OAuthSettings) -> OAuthEndpoints:
    """GitLab: https://docs.gitlab.com/api/oauth2/ (scope read_user, GET /api/v4/user `username`);
    GitHub: https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps
    (scope read:user, GET /user `login`)."""
    if settings.kind == "gitlab":
        base = (settings.url or GITLAB_URL).rstrip("/")
        return OAuthEndpoints(f"{base}/oauth/authorize", f"{base}/oauth/token", f"{base}/api/v4/", "user",
                              "username", "read_user")
    if settings.url:  # GitHub Enterprise Server: the same paths on the instance, its API under /api/v3
        base = settings.url.rstrip("/")
        return OAuthEndpoints(f"{base}/login/oauth/authorize", f"{base}/login/oauth/access_token",
                              f"{base}/api/v3/", "user", "login", "read:user")
    return OAuthEndpoints("https://github.com/login/oauth/authorize", "https://github.com/login/oauth/access_token",
                          "https://api.github.com/", "user", "login", "read:user")
