"""Entities as QuickBooks Online's JSON shows them (minorversion 75).

Fields without a value are left out, as QuickBooks leaves them out. Amounts are JSON numbers in
major units; dates are `YYYY-MM-DD`; times ISO 8601 with an offset (the sandbox's are UTC).
"""

from __future__ import annotations

from datetime import datetime

from duely.sandbox.quickbooks.company import (
    Account,
    Company,
    CreditMemo,
    Customer,
    Invoice,
    Payment,
    SalesLine,
)

CURRENCY_NAMES = {
    "GBP": "British Pound Sterling",
    "USD": "United States Dollar",
    "EUR": "Euro",
    "AUD": "Australian Dollar",
    "CAD": "Canadian Dollar",
}
MONTHS = "January February March April May June July August September October November December"


def timestamp(moment: datetime, millis: bool = False) -> str:
    """QuickBooks' ISO 8601 form: seconds (milliseconds for `time`) and a numeric offset."""
    return moment.isoformat(timespec="milliseconds" if millis else "seconds")


def amount(minor: int) -> float:
    return round(minor / 100, 2)


def _currency(code: str) -> dict:
    return {"value": code, "name": CURRENCY_NAMES.get(code, code)}


def _meta(created: datetime, updated: datetime) -> dict:
    return {"CreateTime": timestamp(created), "LastUpdatedTime": timestamp(updated)}


def _entity(record: object, created: datetime, updated: datetime, sync_token: int) -> dict:
    return {
        "domain": "QBO",
        "sparse": False,
        "Id": record.id,  # type: ignore[attr-defined]
        "SyncToken": str(sync_token),
        "MetaData": _meta(created, updated),
    }


def _present(body: dict) -> dict:
    """Leave out what has no value ("", None, []), as QuickBooks does."""
    return {k: v for k, v in body.items() if v not in ("", None, [], {})}


def _sales_lines(lines: list[SalesLine], total: int) -> list[dict]:
    out = [
        {
            "Id": str(number),
            "LineNum": number,
            "Description": line.description,
            "Amount": amount(line.amount),
            "DetailType": "SalesItemLineDetail",
            "SalesItemLineDetail": {
                "ItemRef": {"value": "1", "name": line.item_name},
                "UnitPrice": amount(line.amount),
                "Qty": 1,
            },
        }
        for number, line in enumerate(lines, start=1)
    ]
    out.append(
        {"Amount": amount(total), "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}}
    )
    return [_present(line) for line in out]


def _customer_ref(company: Company, customer_id: str) -> dict:
    customer = company.customers.get(customer_id)
    return _present({"value": customer_id, "name": customer.display_name if customer else ""})


def customer_json(
    company: Company, customer: Customer, balances: dict[str, int] | None = None
) -> dict:
    """`balances` (Company.customer_balances) saves recomputing them for each of a list."""
    balances = balances if balances is not None else company.customer_balances()
    balance = amount(balances.get(customer.id, 0))
    return _present(
        {
            **_entity(customer, customer.created, customer.updated, customer.sync_token),
            "GivenName": customer.given_name,
            "FamilyName": customer.family_name,
            "FullyQualifiedName": customer.display_name,
            "CompanyName": customer.company_name,
            "DisplayName": customer.display_name,
            "PrintOnCheckName": customer.company_name or customer.display_name,
            "Active": customer.active,
            "PrimaryPhone": {"FreeFormNumber": customer.phone} if customer.phone else None,
            "Mobile": {"FreeFormNumber": customer.mobile} if customer.mobile else None,
            "PrimaryEmailAddr": {"Address": customer.email} if customer.email else None,
            "Taxable": False,
            "Job": False,
            "BillWithParent": False,
            "Balance": balance,
            "BalanceWithJobs": balance,
            "CurrencyRef": _currency(customer.currency),
            "PreferredDeliveryMethod": "Email" if customer.email else "Print",
        }
    )


def invoice_json(company: Company, invoice: Invoice) -> dict:
    return _present(
        {
            **_entity(invoice, invoice.created, invoice.updated, invoice.sync_token),
            "DocNumber": invoice.doc_number,
            "TxnDate": invoice.txn_date.isoformat(),
            "CurrencyRef": _currency(invoice.currency),
            "PrivateNote": invoice.private_note,
            "LinkedTxn": [{"TxnId": t.txn_id, "TxnType": t.txn_type} for t in invoice.linked],
            "Line": _sales_lines(invoice.lines, invoice.total),
            "CustomerRef": _customer_ref(company, invoice.customer_id),
            "DueDate": invoice.due_date.isoformat(),
            "TotalAmt": amount(invoice.total),
            "PrintStatus": "NotSet",
            "EmailStatus": invoice.email_status,
            "BillEmail": {"Address": invoice.bill_email} if invoice.bill_email else None,
            "Balance": amount(invoice.balance),
        }
    )


def payment_json(company: Company, payment: Payment) -> dict:
    lines = [
        {
            "Amount": amount(line.amount),
            "LinkedTxn": [{"TxnId": line.txn_id, "TxnType": line.txn_type}],
        }
        for line in payment.lines
    ]
    return _present(
        {
            **_entity(payment, payment.created, payment.updated, payment.sync_token),
            "TxnDate": payment.txn_date.isoformat(),
            "CurrencyRef": _currency(payment.currency),
            "PrivateNote": payment.private_note,
            "Line": lines,
            "CustomerRef": _customer_ref(company, payment.customer_id),
            "DepositToAccountRef": {"value": _undeposited(company)},
            "PaymentRefNum": payment.ref_num,
            "TotalAmt": amount(payment.total),
            "UnappliedAmt": amount(payment.unapplied),
            "ProcessPayment": False,
        }
    )


def _undeposited(company: Company) -> str:
    found = next((a.id for a in company.accounts.values() if a.sub_type == "UndepositedFunds"), "")
    return found or "1"


def credit_memo_json(company: Company, memo: CreditMemo) -> dict:
    return _present(
        {
            **_entity(memo, memo.created, memo.updated, memo.sync_token),
            "DocNumber": memo.doc_number,
            "TxnDate": memo.txn_date.isoformat(),
            "CurrencyRef": _currency(memo.currency),
            "Line": _sales_lines(memo.lines, memo.total),
            "CustomerRef": _customer_ref(company, memo.customer_id),
            "TotalAmt": amount(memo.total),
            "RemainingCredit": amount(memo.balance),
            "Balance": amount(memo.balance),
            "PrintStatus": "NotSet",
            "EmailStatus": "NotSet",
        }
    )


def account_json(company: Company, account: Account) -> dict:
    return _present(
        {
            **_entity(account, account.created, account.updated, account.sync_token),
            "Name": account.name,
            "SubAccount": False,
            "FullyQualifiedName": account.name,
            "Active": account.active,
            "Classification": account.classification,
            "AccountType": account.account_type,
            "AccountSubType": account.sub_type,
            "CurrentBalance": amount(account.balance),
            "CurrentBalanceWithSubAccounts": amount(account.balance),
            "CurrencyRef": _currency(account.currency),
        }
    )


def company_info_json(company: Company) -> dict:
    address = {
        "Id": "1",
        "Line1": company.address_line,
        "City": company.city,
        "Country": company.country,
        "PostalCode": company.postal_code,
    }
    return _present(
        {
            "domain": "QBO",
            "sparse": False,
            "Id": "1",
            "SyncToken": "0",
            "MetaData": _meta(company.created, company.info_updated or company.created),
            "CompanyName": company.name,
            "LegalName": company.name,
            "CompanyAddr": address,
            "CustomerCommunicationAddr": address,
            "LegalAddr": address,
            "PrimaryPhone": {"FreeFormNumber": company.phone},
            "CompanyStartDate": company.created.date().isoformat(),
            "FiscalYearStartMonth": "January",
            "Country": company.country,
            "Email": {"Address": company.email},
            "WebAddr": {},
            "SupportedLanguages": "en",
            "NameValue": [
                {"Name": "NeoEnabled", "Value": "true"},
                {"Name": "IsQbdtMigrated", "Value": "false"},
            ],
        }
    )


def preferences_json(company: Company) -> dict:
    return {
        "domain": "QBO",
        "sparse": False,
        "Id": "1",
        "SyncToken": "0",
        "MetaData": _meta(company.created, company.created),
        "AccountingInfoPrefs": {
            "TrackDepartments": False,
            "ClassTrackingPerTxn": False,
            "CustomerTerminology": "Customers",
        },
        "SalesFormsPrefs": {
            "CustomTxnNumbers": True,
            "AllowDeposit": False,
            "AllowDiscount": False,
            "AllowEstimates": True,
            "ETransactionPaymentEnabled": False,
            "IPNSupportEnabled": False,
            "AllowServiceDate": False,
            "AllowShipping": False,
            "DefaultTerms": {"value": "3"},
            "AutoApplyCredit": True,
            "AutoApplyPayments": True,
        },
        "CurrencyPrefs": {
            "MultiCurrencyEnabled": False,
            "HomeCurrency": {"value": company.currency},
        },
    }


def tombstone_json(entity_id: str, deleted: datetime) -> dict:
    """A deleted entity in change data capture."""
    return {
        "domain": "QBO",
        "status": "Deleted",
        "Id": entity_id,
        "MetaData": {"LastUpdatedTime": timestamp(deleted)},
    }


RENDERERS = {
    "Customer": customer_json,
    "Invoice": invoice_json,
    "Payment": payment_json,
    "CreditMemo": credit_memo_json,
    "Account": account_json,
}


def entity_jsons(company: Company, entity: str, records: list) -> list[dict]:
    """Many entities of one kind (customers share one computation of their balances)."""
    if entity == "Customer":
        balances = company.customer_balances()
        return [customer_json(company, record, balances) for record in records]
    render = RENDERERS[entity]
    return [render(company, record) for record in records]  # type: ignore[operator]


def _metadata_of(record: object) -> dict:
    return _meta(record.created, record.updated)  # type: ignore[attr-defined]


# What a query may filter or sort on without rendering whole entities: each field as its JSON
# shows it (references as {"value"}), for the fields a sync reads by. Others render in full.
_COMMON = {
    "id": lambda r: r.id,
    "synctoken": lambda r: str(r.sync_token),
    "metadata": _metadata_of,
}
_TRANSACTION = {
    **_COMMON,
    "txndate": lambda r: r.txn_date.isoformat(),
    "totalamt": lambda r: amount(r.total),
    "customerref": lambda r: {"value": r.customer_id},
}
QUERY_FIELDS: dict[str, dict] = {
    "Invoice": {
        **_TRANSACTION,
        "docnumber": lambda r: r.doc_number,
        "duedate": lambda r: r.due_date.isoformat(),
        "balance": lambda r: amount(r.balance),
        "emailstatus": lambda r: r.email_status,
    },
    "Payment": {**_TRANSACTION, "paymentrefnum": lambda r: r.ref_num or None},
    "CreditMemo": {
        **_TRANSACTION,
        "docnumber": lambda r: r.doc_number,
        "balance": lambda r: amount(r.balance),
    },
    "Customer": {
        **_COMMON,
        "displayname": lambda r: r.display_name,
        "companyname": lambda r: r.company_name or None,
        "active": lambda r: r.active,
    },
    "Account": {
        **_COMMON,
        "name": lambda r: r.name,
        "accounttype": lambda r: r.account_type,
        "active": lambda r: r.active,
    },
}
