"""Placeholder replaced below."""


def install():
    return None


def uninstall(hooks):
    pass
