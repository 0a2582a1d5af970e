"""issuebot: mentorship programs run as issues in GitLab, GitHub or an embedded tracker."""

__version__ = "0.1.0"
