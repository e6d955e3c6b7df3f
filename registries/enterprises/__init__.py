"""Enterprise registry (đăng ký doanh nghiệp): enterprises, representatives, owners, lines."""
