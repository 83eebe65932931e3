import httpx

client = httpx.Client(base_url="https://api.example.com")
report = client.get("/v1/reports", params={"metric": "signups", "by": "week"})
for row in report.json()["rows"]:
    print(row["week"], row["signups"])
