# Settings layered the way `wagtail start` lays them out (star imports are its convention).
# pylint: disable=wildcard-import,unused-wildcard-import
from .base import *

# SECURITY WARNING: don't run with debug turned on in production!
DEBUG = True

# SECURITY WARNING: keep the secret key used in production secret!
SECRET_KEY = "django-insecure-n(kxlkw(jigi=fb_t$1#bjaazlxlx_zchk-1b-ro%ba%dr=@nb"

# SECURITY WARNING: define the correct hosts in production!
ALLOWED_HOSTS = ["*"]

EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"


try:
    from .local import *
except ImportError:
    pass
