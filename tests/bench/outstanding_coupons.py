#!/usr/bin/env python3
"""Events for the benchmarks: one ISSUED campaign and N coupons granted from
it that stay outstanding (valid for 3,000 days), as JSONL on stdout.

Usage: outstanding_coupons.py N [CAMPAIGN_ID]
"""
import sys

n = int(sys.argv[1])
campaign = sys.argv[2] if len(sys.argv) > 2 else "big"
print(f'{{"eventId":"{campaign}-def","occurredAt":"2023-08-01T00:00:00Z","campaignDefined":{{"campaignId":"{campaign}",'
      f'"name":"Big","currency":"KRW","startsAt":"2023-01-01T00:00:00Z","endsAt":"2030-01-01T00:00:00Z",'
      '"funders":[{"funderId":"gov","budget":"1000000000000000","shareBps":5000},'
      '{"funderId":"pvt","budget":"1000000000000000","shareBps":5000}],'
      '"trigger":"ISSUED","offer":{"fixedAmount":"1000","validDays":3000}}}')
for i in range(n):
    print(f'{{"eventId":"{campaign}-claim-{i:08d}","occurredAt":"2023-08-01T00:00:01Z","couponIssued":'
          f'{{"campaignId":"{campaign}","customerId":"u-{i:08d}"}}}}')
