"""Every label the console shows, in Vietnamese first and English: the one message catalogue.

Templates and views name a message by key (`t("nav.dashboard")`); a key missing from the
catalogue fails loudly (a test renders every page in both languages). Placeholders are
`str.format` fields. What the services say (refusals, validation errors) is shown as they say it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

LANGUAGES = ("vi", "en")
DEFAULT_LANGUAGE = "vi"

MESSAGES: dict[str, tuple[str, str]] = {
    # the frame
    "app.title": ("Liên Thông · Bảng điều khiển", "Liên Thông · Console"),
    "app.name": ("Liên Thông", "Liên Thông"),
    "app.steward_console": ("Bảng điều khiển quản trị dữ liệu", "Data stewards' console"),
    "app.citizen_portal": ("Dữ liệu của tôi", "My data"),
    "app.skip": ("Chuyển đến nội dung chính", "Skip to main content"),
    "app.language": ("Ngôn ngữ", "Language"),
    "app.signed_in_as": ("Đăng nhập với tên {name}", "Signed in as {name}"),
    "app.roles": ("Vai trò", "Roles"),
    "nav.label": ("Điều hướng chính", "Main navigation"),
    "nav.dashboard": ("Tổng quan", "Dashboard"),
    "nav.agreements": ("Thỏa thuận chia sẻ", "Agreements"),
    "nav.approvals": ("Chờ phê duyệt", "Approvals"),
    "nav.sign_out": ("Đăng xuất", "Sign out"),
    # signing in and out
    "sign_in.title": ("Đăng nhập", "Sign in"),
    "sign_in.steward_intro": (
        "Trang dành cho cán bộ quản trị dữ liệu. Đăng nhập bằng tài khoản của cơ quan.",
        "For data stewards. Sign in with your organisation's account.",
    ),
    "sign_in.citizen_intro": (
        "Xem ai đã truy cập dữ liệu của bạn và quản lý sự đồng ý. Đăng nhập bằng tài khoản "
        "định danh của bạn.",
        "See who looked at your data and manage your consents. Sign in with your identity account.",
    ),
    "sign_in.button": ("Đăng nhập", "Sign in"),
    "sign_in.unavailable": (
        "Chưa cấu hình máy chủ đăng nhập (LIENTHONG_CONSOLE_OIDC_URL hoặc "
        "LIENTHONG_KEYCLOAK_URL) hoặc khóa phiên (LIENTHONG_CONSOLE_SESSION_SECRET).",
        "No sign-in server (LIENTHONG_CONSOLE_OIDC_URL or LIENTHONG_KEYCLOAK_URL) or session "
        "key (LIENTHONG_CONSOLE_SESSION_SECRET) is configured.",
    ),
    "sign_in.failed": ("Đăng nhập không thành công", "Sign-in failed"),
    "sign_in.expired": (
        "Phiên đăng nhập đã hết hạn hoặc không hợp lệ. Hãy đăng nhập lại.",
        "The sign-in expired or is not valid. Please sign in again.",
    ),
    "sign_out.done": ("Bạn đã đăng xuất.", "You are signed out."),
    # errors
    "error.title": ("Không thực hiện được", "That did not work"),
    "error.forbidden": ("Không có quyền", "Forbidden"),
    "error.steward_only": (
        "Trang này chỉ dành cho cán bộ quản trị dữ liệu.",
        "This page is for data stewards only.",
    ),
    "error.citizen_only": ("Trang này chỉ dành cho công dân.", "This page is for citizens only."),
    "error.csrf": (
        "Biểu mẫu đã hết hạn hoặc không đến từ trang này (thiếu mã chống giả mạo CSRF). "
        "Hãy tải lại trang và thử lại.",
        "The form expired or did not come from this site (its anti-forgery CSRF token is "
        "missing or wrong). Reload the page and try again.",
    ),
    "error.not_found": ("Không tìm thấy trang", "Page not found"),
    "error.invalid": ("Dữ liệu không hợp lệ", "Invalid input"),
    "error.fix_below": ("Hãy sửa các lỗi bên dưới.", "Please correct the errors below."),
    "error.back": ("Quay lại tổng quan", "Back to the dashboard"),
    "error.code": ("Mã lỗi", "Error code"),
    # dashboard
    "dashboard.title": ("Tổng quan", "Dashboard"),
    "dashboard.disclosures": (
        "Lượt cung cấp dữ liệu theo cơ quan, {days} ngày gần nhất",
        "Disclosures per agency, last {days} days",
    ),
    "dashboard.chart_label": (
        "Biểu đồ cột chồng: số bản ghi nhật ký truy cập mỗi ngày, theo cơ quan",
        "Stacked bar chart: access-log entries per day, by agency",
    ),
    "dashboard.no_disclosures": ("Chưa có lượt truy cập nào.", "No access yet."),
    "dashboard.day": ("Ngày", "Day"),
    "dashboard.agency": ("Cơ quan", "Agency"),
    "dashboard.entries": ("Bản ghi", "Entries"),
    "dashboard.table_summary": ("Số liệu của biểu đồ", "The chart's figures"),
    "dashboard.refusals": ("Trường bị từ chối, theo lý do", "Fields refused, by reason"),
    "dashboard.reason": ("Lý do", "Reason"),
    "dashboard.count": ("Số trường", "Fields"),
    "dashboard.no_refusals": ("Không có lượt từ chối nào.", "No refusals."),
    "dashboard.waiting": ("Chờ phê duyệt", "Approvals waiting"),
    "dashboard.waiting_agreements": ("Thỏa thuận chia sẻ", "Agreements"),
    "dashboard.waiting_documents": ("Truy vấn của cơ quan", "Agency documents"),
    "dashboard.waiting_purposes": ("Mục đích", "Purposes"),
    "dashboard.waiting_forms": ("Biểu mẫu", "Forms"),
    "dashboard.chain": ("Chuỗi băm của nhật ký truy cập", "Access-log hash chains"),
    "dashboard.chain_entries": ("Bản ghi", "Entries"),
    "dashboard.chain_chains": ("Chuỗi", "Chains"),
    "dashboard.chain_lanes": ("Luồng ghi", "Lanes"),
    "dashboard.last_verify": ("Lần kiểm tra gần nhất", "Last verification"),
    "dashboard.never_verified": (
        "Chưa kiểm tra kể từ khi máy chủ khởi động.",
        "Not verified since this server started.",
    ),
    "dashboard.intact": (
        "Nguyên vẹn: {rows} bản ghi trong {chains} chuỗi, lúc {at}, do {by}",
        "Intact: {rows} entries in {chains} chains, at {at}, by {by}",
    ),
    "dashboard.broken": (
        "BỊ PHÁ VỠ: chuỗi {chain}, số thứ tự {seq}: {reason} (lúc {at}, do {by})",
        "BROKEN: chain {chain}, sequence {seq}: {reason} (at {at}, by {by})",
    ),
    "dashboard.verify": ("Kiểm tra chuỗi ngay", "Verify the chains now"),
    # agreements
    "agreements.title": ("Thỏa thuận chia sẻ dữ liệu", "Data-sharing agreements"),
    "agreements.new": ("Soạn thỏa thuận mới", "Draft a new agreement"),
    "agreements.filter": ("Lọc", "Filter"),
    "agreements.all": ("Tất cả", "All"),
    "agreements.none": ("Không có thỏa thuận nào.", "No agreements."),
    "agreements.id": ("Mã", "Id"),
    "agreements.status": ("Trạng thái", "Status"),
    "agreements.fields": ("Trường dữ liệu", "Fields"),
    "agreements.changed_by": ("Người thay đổi", "Changed by"),
    "agreements.valid_from": ("Từ lúc", "Since"),
    "agreements.more": ("Trang sau", "Next page"),
    "agreement.title": ("Thỏa thuận {id}", "Agreement {id}"),
    "agreement.edit_title": ("Sửa thỏa thuận {id}", "Edit agreement {id}"),
    "agreement.new_title": ("Soạn thỏa thuận mới", "Draft an agreement"),
    "agreement.agency": ("Cơ quan", "Agency"),
    "agreement.purpose": ("Mục đích", "Purpose"),
    "agreement.subject_type": ("Loại đối tượng", "Subject type"),
    "agreement.choose_type": ("Chọn loại đối tượng", "Choose the subject type"),
    "agreement.choose_type_hint": (
        "Các trường dữ liệu được chọn từ lược đồ của loại đối tượng này.",
        "The fields are chosen from this type's schema.",
    ),
    "agreement.continue": ("Tiếp tục", "Continue"),
    "agreement.fields": ("Trường dữ liệu được cung cấp", "Fields given"),
    "agreement.fields_hint": (
        "Đánh dấu các trường cơ quan được xem; chọn cách che nếu chỉ cung cấp một phần.",
        "Tick the fields the agency may see; choose a mask to give only part of one.",
    ),
    "agreement.field": ("Trường", "Field"),
    "agreement.given": ("Cung cấp", "Given"),
    "agreement.mask": ("Che", "Mask"),
    "agreement.mask_none": ("Không che", "No mask"),
    "agreement.via": ("Qua quan hệ", "Through relations"),
    "agreement.via_hint": (
        "Không chọn: chỉ khi tra cứu trực tiếp theo mã. Chọn: chỉ khi đến từ các quan hệ này.",
        "None ticked: only when looked up by key. Ticked: only when reached through these.",
    ),
    "agreement.no_via": (
        "Loại này không có quan hệ nào dẫn đến.",
        "No relation reaches this type.",
    ),
    "agreement.legal_basis": ("Căn cứ pháp lý", "Legal basis"),
    "agreement.legal_reference": ("Số hiệu văn bản", "Legal reference"),
    "agreement.consent_required": (
        "Cần sự đồng ý của công dân",
        "The citizen's consent is required",
    ),
    "agreement.effective_from": ("Hiệu lực từ ngày", "In force from"),
    "agreement.effective_to": (
        "Hiệu lực đến ngày (để trống: không thời hạn)",
        "In force until (empty: open-ended)",
    ),
    "agreement.daily_quota": (
        "Hạn mức mỗi ngày (số đối tượng; để trống: không giới hạn)",
        "Daily quota (subjects; empty: none)",
    ),
    "agreement.save_draft": ("Lưu bản nháp", "Save the draft"),
    "agreement.save": ("Lưu thay đổi (thành bản nháp)", "Save the change (as a draft)"),
    "agreement.edit": ("Sửa", "Edit"),
    "agreement.submit": ("Gửi phê duyệt", "Submit for approval"),
    "agreement.approve": ("Phê duyệt", "Approve"),
    "agreement.reject": ("Từ chối", "Reject"),
    "agreement.note": ("Ghi chú (bắt buộc khi từ chối)", "Note (required to reject)"),
    "agreement.suspend": ("Tạm dừng", "Suspend"),
    "agreement.suspend_note": (
        "Lý do tạm dừng (có hiệu lực từ yêu cầu tiếp theo)",
        "Why it is suspended (from the next request)",
    ),
    "agreement.suspended": (
        "Đã tạm dừng: từ yêu cầu tiếp theo không còn cung cấp dữ liệu.",
        "Suspended: nothing is given from the next request.",
    ),
    "agreement.decide": ("Quyết định", "Decision"),
    "agreement.saved": ("Đã lưu bản nháp.", "The draft is saved."),
    "agreement.submitted": ("Đã gửi phê duyệt.", "Submitted for approval."),
    "agreement.approved": (
        "Đã phê duyệt: có hiệu lực từ yêu cầu tiếp theo.",
        "Approved: in force from the next request.",
    ),
    "agreement.rejected": ("Đã từ chối.", "Rejected."),
    "agreement.terms": ("Điều khoản", "Terms"),
    "agreement.history": ("Lịch sử", "History"),
    "agreement.version": ("Phiên bản", "Version"),
    "agreement.note_label": ("Ghi chú", "Note"),
    "agreement.yes": ("Có", "Yes"),
    "agreement.no": ("Không", "No"),
    "agreement.open_ended": ("không thời hạn", "open-ended"),
    "agreement.unlimited": ("không giới hạn", "none"),
    "diff.title": (
        "Thay đổi so với phiên bản đã có hiệu lực",
        "Change against the version in force",
    ),
    "diff.against": (
        "So với phiên bản {version} ({status}, do {by} phê duyệt).",
        "Against version {version} ({status}, approved by {by}).",
    ),
    "diff.new": (
        "Thỏa thuận mới: chưa từng có phiên bản được phê duyệt, mọi điều khoản đều là mới.",
        "A new agreement: no version was ever approved, every term is new.",
    ),
    "diff.term": ("Điều khoản", "Term"),
    "diff.before": ("Trước", "Before"),
    "diff.after": ("Sau", "After"),
    "diff.added": ("Thêm", "Added"),
    "diff.removed": ("Bỏ", "Removed"),
    "diff.unchanged": ("Không có thay đổi nào về điều khoản.", "No term changed."),
    "approvals.title": ("Chờ phê duyệt", "Waiting for approval"),
    "approvals.intro": (
        "Thỏa thuận đã gửi phê duyệt. Người soạn, sửa hoặc gửi không được tự phê duyệt "
        "(nguyên tắc bốn mắt).",
        "Agreements submitted for approval. Whoever drafted, edited or submitted one may not "
        "approve it (four-eyes).",
    ),
    "approvals.none": ("Không có thỏa thuận nào chờ phê duyệt.", "Nothing waits for approval."),
    "approvals.review": ("Xem và quyết định", "Review and decide"),
    # statuses
    "status.draft": ("bản nháp", "draft"),
    "status.submitted": ("chờ phê duyệt", "submitted"),
    "status.approved": ("đã phê duyệt", "approved"),
    "status.rejected": ("bị từ chối", "rejected"),
    "status.suspended": ("tạm dừng", "suspended"),
    "status.expired": ("hết hiệu lực", "expired"),
    # citizens
    "me.title": ("Dữ liệu của tôi", "My data"),
    "me.intro": (
        "Bạn đã đăng nhập với số định danh cá nhân {citizen_id}.",
        "You are signed in with personal ID {citizen_id}.",
    ),
    # citizens: who looked at my data, my consents (gateway/console/me.py)
    "nav.me_log": ("Ai đã xem dữ liệu của tôi", "Who looked at my data"),
    "nav.me_consents": ("Sự đồng ý của tôi", "My consents"),
    "me.log.title": ("Ai đã xem dữ liệu của tôi", "Who looked at my data"),
    "me.log.intro": (
        "Mỗi lần một cơ quan xem (hoặc bị từ chối xem) dữ liệu của bạn đều được ghi lại: cơ "
        "quan nào, vì mục đích gì, cán bộ nào, hồ sơ nào và những trường dữ liệu nào.",
        "Every time an agency saw (or was refused) your data is recorded: which agency, for "
        "what purpose, which officer, which dossier and which fields.",
    ),
    "me.log.agency": ("Cơ quan", "Agency"),
    "me.log.all_agencies": ("Tất cả cơ quan", "All agencies"),
    "me.log.since": ("Từ ngày", "From"),
    "me.log.until": ("Đến hết ngày", "Until (inclusive)"),
    "me.log.filter": ("Lọc", "Filter"),
    "me.log.csv": ("Tải về (CSV)", "Download (CSV)"),
    "me.log.none": (
        "Chưa có lượt truy cập nào vào dữ liệu của bạn trong phạm vi này.",
        "Nobody looked at your data within this range.",
    ),
    "me.log.time": ("Thời điểm", "Time"),
    "me.log.purpose": ("Mục đích", "Purpose"),
    "me.log.officer": ("Cán bộ", "Officer"),
    "me.log.verified": ("đã xác thực", "verified"),
    "me.log.dossier": ("Hồ sơ", "Dossier"),
    "me.log.fields": ("Trường dữ liệu", "Fields"),
    "me.log.given": ("Đã cung cấp", "Given"),
    "me.log.masked": ("Cung cấp một phần (che)", "Given masked"),
    "me.log.denied": ("Bị từ chối", "Refused"),
    "me.log.outcome": ("Kết quả", "Outcome"),
    "me.log.legal_basis": ("Căn cứ", "Basis"),
    "me.log.agency_code": ("Mã cơ quan", "Agency code"),
    "me.log.purpose_code": ("Mã mục đích", "Purpose code"),
    "me.log.next": ("Trang sau", "Next page"),
    "me.log.first": ("Về trang đầu", "Back to the first page"),
    "me.log.bad_date": (
        "{value} không phải là ngày (YYYY-MM-DD)",
        "{value} is not a date (YYYY-MM-DD)",
    ),
    "me.log.bad_agency": ("{value} không phải là mã cơ quan", "{value} is not an agency code"),
    "me.log.bad_period": (
        "Ngày bắt đầu phải trước hoặc bằng ngày kết thúc",
        "The start must not be after the end",
    ),
    "me.log.bad_cursor": (
        "Liên kết trang không hợp lệ; hãy quay về trang đầu",
        "That page link is not valid; go back to the first page",
    ),
    "me.outcome.disclosed": ("Đã cung cấp", "Given"),
    "me.outcome.refused": ("Bị từ chối", "Refused"),
    "me.outcome.oversight": ("Cán bộ quản trị dữ liệu xem", "Seen by a data steward"),
    "me.outcome.dossier": ("Hồ sơ một cửa nêu tên bạn", "A one-stop dossier names you"),
    "me.purpose.oversight": ("Giám sát, kiểm tra", "Oversight"),
    "me.consents.title": ("Sự đồng ý của tôi", "My consents"),
    "me.consents.intro": (
        "Một số cơ quan chỉ được xem dữ liệu của bạn khi bạn đồng ý. Bạn có thể đồng ý cho "
        "từng trường dữ liệu, có thời hạn, và rút lại bất cứ lúc nào: từ yêu cầu tiếp theo cơ "
        "quan không còn được xem.",
        "Some agencies may see your data only with your consent. You can consent field by "
        "field, until a date, and withdraw at any time: the agency's next request is refused.",
    ),
    "me.consents.current": ("Sự đồng ý đã cho", "Consents given"),
    "me.consents.none": ("Bạn chưa đồng ý cho cơ quan nào.", "You have given no consent."),
    "me.consents.granted_at": ("Ngày đồng ý", "Given on"),
    "me.consents.expires_at": ("Hết hạn", "Expires"),
    "me.consents.state": ("Tình trạng", "State"),
    "me.consents.in_force": ("đang có hiệu lực", "in force"),
    "me.consents.revoked": ("đã rút lại ngày {day}", "withdrawn on {day}"),
    "me.consents.expired": ("đã hết hạn", "expired"),
    "me.consents.channel": ("Hình thức", "Given"),
    "me.consents.channel_online": ("trực tuyến", "online"),
    "me.consents.channel_paper": ("tại quầy (giấy)", "at a counter (paper)"),
    "me.consents.revoke": ("Rút lại", "Withdraw"),
    "me.consents.revoke_label": (
        "Rút lại sự đồng ý cho {agency} ({purpose})",
        "Withdraw the consent to {agency} ({purpose})",
    ),
    "me.consents.grant_title": ("Đồng ý cho một cơ quan", "Give a consent"),
    "me.consents.no_offers": (
        "Hiện không có cơ quan nào cần sự đồng ý của bạn.",
        "No agency currently asks for your consent.",
    ),
    "me.consents.offer": ("{agency} · {purpose}", "{agency} · {purpose}"),
    "me.consents.basis": ("Căn cứ: {basis}", "Basis: {basis}"),
    "me.consents.fields": (
        "Những trường dữ liệu cơ quan được xem",
        "The fields the agency may see",
    ),
    "me.consents.expires": ("Có hiệu lực đến hết ngày", "Valid until the end of"),
    "me.consents.grant": ("Đồng ý", "Give consent"),
    "me.consents.granted": (
        "Đã ghi nhận sự đồng ý: có hiệu lực từ yêu cầu tiếp theo của cơ quan.",
        "Consent recorded: in force from the agency's next request.",
    ),
    "me.consents.withdrawn": (
        "Đã rút lại sự đồng ý: yêu cầu tiếp theo của cơ quan sẽ bị từ chối.",
        "Consent withdrawn: the agency's next request is refused.",
    ),
    "me.consent.no_offer": (
        "Không có thỏa thuận nào cho phép cơ quan {agency} xem dữ liệu với sự đồng ý cho mục "
        "đích {purpose}",
        "No agreement lets agency {agency} see data with consent for purpose {purpose}",
    ),
    "me.consent.no_fields": (
        "Hãy chọn ít nhất một trường dữ liệu",
        "Choose at least one field",
    ),
    "me.consent.outside": (
        "Thỏa thuận không cho phép xem các trường này kể cả khi bạn đồng ý: {fields}",
        "No agreement lets the agency see these fields, even with your consent: {fields}",
    ),
    "me.consent.bad_expiry": (
        "{value} không phải là ngày (YYYY-MM-DD)",
        "{value} is not a date (YYYY-MM-DD)",
    ),
    "me.consent.past_expiry": (
        "Ngày hết hạn phải từ hôm nay trở đi",
        "The end date must be today or later",
    ),
    "me.consent.not_yours": (
        "Bạn không có sự đồng ý nào với mã này",
        "You have no consent with this id",
    ),
}


def translator(language: str) -> Callable[..., str]:
    """`t(key, **values)` in `language` (Vietnamese unless English is asked for)."""
    index = 1 if language == "en" else 0

    def t(key: str, **values: Any) -> str:
        text = MESSAGES[key][index]
        return text.format(**values) if values else text

    return t


def status_label(language: str, status: str) -> str:
    key = f"status.{status}"
    return translator(language)(key) if key in MESSAGES else status
