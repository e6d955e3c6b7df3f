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
