"""The access log (nhật ký truy cập): every disclosure, durable and hash-chained."""
