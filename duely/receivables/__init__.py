"""What an organisation is owed: aging buckets and the queries behind the receivables pages and
API."""
