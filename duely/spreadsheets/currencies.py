"""ISO 4217 currency codes a spreadsheet's invoice may be in.

The codes in use today, with a few withdrawn since 2023 (HRK, SLL, ZWL, ANG, CUC, BGN) that old
invoices still carry. Funds codes (BOV, CHE, CHW, CLF, COU, MXV, USN, UYI, UYW) are ISO codes
too; precious metals and the test codes (XAU, XXX, XTS...) are not money an invoice is in.
Minor units come from duely.core.money.decimals.
"""

from __future__ import annotations

_CODES = """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN
    BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP
    ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HRK HTG HUF IDR ILS INR IQD IRR
    ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD
    MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR
    PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL
    THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF
    XCD XCG XOF XPF YER ZAR ZMW ZWG ZWL
    """
CURRENCIES: frozenset[str] = frozenset(_CODES.split())

SYMBOLS: dict[str, str] = {"£": "GBP", "€": "EUR"}
"""Symbols that name one currency when written in a currency column ($ and ¥ name several)."""
