"""Spreadsheet imports, for businesses whose ledger has no API: upload a customers or invoices
file, see every row's problems before anything is written, choose the columns when duely's
guess is wrong, confirm, and watch the rows go in. The card payments duely took for them are
exported for the bookkeeper from here too."""

from __future__ import annotations

from collections.abc import AsyncIterator

from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Response, Template
from sqlmodel import col, func, select

from duely.ledgers import spreadsheet_imports as imports
from duely.ledgers.spreadsheet_runs import start_checking, tell
from duely.models import ImportKind, ImportProblem, ImportStatus, SpreadsheetImport
from duely.payments.receipts_export import receipts_csv
from duely.spreadsheets import CUSTOMERS, INVOICES
from duely.web.auth import requires_admin, requires_collector
from duely.web.chase import ChaseEngineDown, chase_engine
from duely.web.deps import DbSession

SHOWN_PROBLEMS = 500
READ_CHUNK = 1024 * 1024
ENGINE_DOWN = (
    "The file is kept, but the engine that runs imports (Temporal) could not be reached "
    "({reason}): try again in a moment."
)


async def _owned(db_session: DbSession, request: Request, import_id: int) -> SpreadsheetImport:
    upload = await db_session.get(SpreadsheetImport, import_id)
    if upload is None or upload.organisation_id != request.user.organisation_id:
        raise NotFoundException("No such import.")
    return upload


async def _chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(READ_CHUNK):
        yield chunk


class ImportsController(Controller):
    path = "/imports"

    @get("/", name="imports", guards=[requires_collector])
    async def index(self, request: Request, db_session: DbSession) -> Template:
        uploads = (
            await db_session.exec(
                select(SpreadsheetImport)
                .where(SpreadsheetImport.organisation_id == request.user.organisation_id)
                .order_by(col(SpreadsheetImport.id).desc())
                .limit(50)
            )
        ).all()
        return Template("imports/index.html", context={"uploads": uploads, "refusal": ""})

    @post("/", guards=[requires_admin], request_max_body_size=imports.MAX_UPLOAD_BYTES + 65536)
    async def upload(self, request: Request) -> Template | Redirect:
        form = await request.form()
        file = form.get("file")
        state = request.app.state
        try:
            if not isinstance(file, UploadFile):
                raise imports.UploadRefused("Choose a file to upload.")
            upload = await imports.keep_upload(
                state.db,
                state.settings.home,
                request.user.organisation_id,
                str(form.get("kind", "")),
                file.filename,
                _chunks(file),
                request.user.email,
            )
        except imports.UploadRefused as refused:
            return Template(
                "imports/index.html",
                context={"uploads": [], "refusal": str(refused)},
                status_code=400,
            )
        try:
            async with chase_engine(state) as client:
                await start_checking(client, state.settings, upload)
        except ChaseEngineDown as down:
            await imports.cancel(state.db, upload.id or 0)
            return Template(
                "imports/index.html",
                context={"uploads": [], "refusal": ENGINE_DOWN.format(reason=down)},
                status_code=503,
            )
        return Redirect(f"/imports/{upload.id}", status_code=303)

    @get("/{import_id:int}", guards=[requires_collector])
    async def show(
        self, request: Request, db_session: DbSession, import_id: FromPath[int]
    ) -> Template:
        upload = await _owned(db_session, request, import_id)
        problems = (
            await db_session.exec(
                select(ImportProblem)
                .where(ImportProblem.import_id == import_id)
                .order_by(ImportProblem.row, ImportProblem.id)
                .limit(SHOWN_PROBLEMS)
            )
        ).all()
        kept = (
            await db_session.exec(select(func.count()).where(ImportProblem.import_id == import_id))
        ).one()
        kind = CUSTOMERS if upload.kind == ImportKind.CUSTOMERS else INVOICES
        headings, preview = (
            await imports.first_rows(request.app.state.db, import_id)
            if upload.status == ImportStatus.READY
            else ([], [])
        )
        return Template(
            "imports/show.html",
            context={
                "upload": upload,
                "columns": imports.Columns.of(upload.mapping),
                "fields": kind.fields,
                "problems": problems,
                "problems_kept": kept,
                "preview": preview,
                "headings": headings,
                "statuses": ImportStatus,
            },
        )

    @get("/{import_id:int}/progress", guards=[requires_collector])
    async def progress(
        self, request: Request, db_session: DbSession, import_id: FromPath[int]
    ) -> Template:
        upload = await _owned(db_session, request, import_id)
        return Template(
            "imports/_progress.html", context={"upload": upload, "statuses": ImportStatus}
        )

    @post("/{import_id:int}/columns", guards=[requires_admin])
    async def columns(
        self, request: Request, db_session: DbSession, import_id: FromPath[int]
    ) -> Redirect:
        upload = await _owned(db_session, request, import_id)
        form = await request.form()
        chosen = {
            name.removeprefix("column_"): str(value)
            for name, value in form.items()
            if name.startswith("column_") and value
        }
        state = request.app.state
        if upload.status in (ImportStatus.READY, ImportStatus.CHECKING):
            updated = await imports.choose_columns(
                state.db, upload.organisation_id, import_id, chosen, str(form.get("date_order", ""))
            )
            if updated is not None:
                async with chase_engine(state) as client:
                    await tell(client, updated, "recheck")
        return Redirect(f"/imports/{import_id}", status_code=303)

    @post("/{import_id:int}/confirm", guards=[requires_admin])
    async def confirm(
        self, request: Request, db_session: DbSession, import_id: FromPath[int]
    ) -> Redirect:
        upload = await _owned(db_session, request, import_id)
        if upload.status == ImportStatus.READY and not upload.error and upload.rows_ok:
            async with chase_engine(request.app.state) as client:
                await tell(client, upload, "confirm")
        return Redirect(f"/imports/{import_id}", status_code=303)

    @post("/{import_id:int}/cancel", guards=[requires_admin])
    async def cancel(
        self, request: Request, db_session: DbSession, import_id: FromPath[int]
    ) -> Redirect:
        upload = await _owned(db_session, request, import_id)
        if upload.status in (ImportStatus.READY, ImportStatus.CHECKING):
            async with chase_engine(request.app.state) as client:
                await tell(client, upload, "cancel")
        return Redirect("/imports", status_code=303)

    @get("/receipts.csv", guards=[requires_collector], media_type="text/csv; charset=utf-8")
    async def receipts(self, request: Request, db_session: DbSession) -> Response[str]:
        """Card payments taken for spreadsheet organisations, for the bookkeeper's books."""
        text = await receipts_csv(db_session, request.user.organisation_id)
        return Response(
            text,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="duely-card-receipts.csv"'},
        )
