"""One-stop dossiers (hồ sơ một cửa): the case a request of a case-bound purpose serves."""
