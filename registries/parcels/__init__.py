"""Land registry (đăng ký đất đai): parcels on PostGIS, rights and restrictions."""
