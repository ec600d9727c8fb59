"""The diffs of scenario deploys (what each commit changed), as unified-diff hunks."""

from __future__ import annotations

from .spec import DiffSpec, FileDiff


def _added(lines: list[str]) -> str:
    return f"@@ -0,0 +1,{len(lines)} @@\n" + "\n".join("+" + ln for ln in lines)


HISTORY_GO = [
    "package orders",
    "",
    "import (",
    '\t"context"',
    '\t"database/sql"',
    ")",
    "",
    "// historyQuery lists the customer's last orders on the checkout page.",
    "// It runs only when the new_checkout flag is on (checkout/handler.go).",
    "const historyQuery = `",
    "-- name: OrderHistory",
    "SELECT o.id, o.created_at, o.total_cents, oi.sku, oi.qty FROM orders o JOIN order_items oi ON oi.order_id = o.id WHERE o.customer_email = $1 ORDER BY o.created_at DESC LIMIT 20`",
    "",
    "// History returns the last 20 order lines of the customer.",
    "func History(ctx context.Context, db *sql.DB, email string) ([]Line, error) {",
    "\trows, err := db.QueryContext(ctx, historyQuery, email)",
    "\tif err != nil {",
    "\t\treturn nil, err",
    "\t}",
    "\tdefer rows.Close()",
    "\treturn scanLines(rows)",
    "}",
]

CHECKOUT_HANDLER = """@@ -57,6 +57,14 @@ func (h *Handler) Checkout(w http.ResponseWriter, r *http.Request) {
 \tif err := h.validate(ctx, cart); err != nil {
 \t\treturn h.fail(w, err)
 \t}
+\tvar history []orders.Line
+\tif h.flags.Bool(ctx, "new_checkout", false) {
+\t\thistory, err = orders.History(ctx, h.db, req.Email)
+\t\tif err != nil {
+\t\t\treturn h.fail(w, fmt.Errorf("order history lookup failed: %w", err))
+\t\t}
+\t}
+\tpage.History = history
 \torder, err := h.place(ctx, cart)
 \tif err != nil {
 \t\treturn h.fail(w, err)"""

CHECKOUT = DiffSpec(
    message="order history on checkout page (behind new_checkout)",
    author="mkowalski",
    files=(
        FileDiff("checkout/handler.go", CHECKOUT_HANDLER),
        FileDiff("orders/history.go", _added(HISTORY_GO), status="added"),
        FileDiff("orders/history_test.go", _added([
            "package orders", "", "func TestHistoryEmpty(t *testing.T) {",
            "\tlines, err := History(ctx, testDB(t), \"nobody@example.com\")",
            "\trequire.NoError(t, err)", "\trequire.Empty(t, lines)", "}",
        ]), status="added"),
        FileDiff("docs/checkout.md", """@@ -12,3 +12,6 @@ The checkout page shows the cart, the address and the payment form.
 
 Totals are computed server-side.
+
+With the `new_checkout` flag on, the page also lists the customer's last orders
+(order history), newest first.""")),
)

DOCS_ONLY = DiffSpec(
    message="docs: runbook for checkout timeouts; README badges",
    author="sre-bot",
    files=(
        FileDiff("README.md", """@@ -1,4 +1,5 @@
 # checkout-api
+[![build](https://ci.example.com/badge/checkout-api.svg)](https://ci.example.com/checkout-api)
 
 Places orders: validates the cart, reserves stock, charges the card.
 """),
        FileDiff("docs/runbook.md", """@@ -20,6 +20,12 @@ ## Latency
 Check the p95 panel first, then the payment-gateway panel.
 
+### Charges are slow
+
+payment-gateway answers slowly when the acquirer is degraded; checkout waits for
+it on every order. Look at `POST /v1/charges` spans before rolling back checkout.
+
 ## Errors
 
 Most 5xx come from payment declines mapped to 502."""),
        FileDiff("checkout/handler_test.go", """@@ -88,3 +88,9 @@ func TestCheckoutDeclined(t *testing.T) {
 \tassert.Equal(t, 502, rec.Code)
 }
+
+func TestCheckoutSlowPayment(t *testing.T) {
+\th := newHandler(t, withPaymentDelay(2*time.Second))
+\trec := h.post(t, "/api/v1/checkout", cartJSON)
+\tassert.Equal(t, 200, rec.Code)
+}"""),
    ),
)

ACQUIRER_TIMEOUT = DiffSpec(
    message="acquirer: fail fast (timeout_ms 3000 -> 250)",
    author="pbianchi",
    files=(
        FileDiff("config/acquirer.yaml", """@@ -3,7 +3,7 @@ acquirer:
   endpoint: https://acquirer.example.net/v2
   pool:
     max: 64
-  timeout_ms: 3000
+  timeout_ms: 250
   retries: 0
 fraud:
   enabled: true"""),
    ),
)

PGJDBC_BUMP = DiffSpec(
    message="deps: bump org.postgresql:postgresql from 42.7.4 to 42.7.5",
    author="dependabot[bot]",
    files=(
        FileDiff("build.gradle.kts", """@@ -18,7 +18,7 @@ dependencies {
     implementation("org.springframework.boot:spring-boot-starter-web")
     implementation("com.zaxxer:HikariCP:5.1.0")
-    runtimeOnly("org.postgresql:postgresql:42.7.4")
+    runtimeOnly("org.postgresql:postgresql:42.7.5")
     implementation("io.opentelemetry:opentelemetry-api:1.44.1")
     testImplementation("org.springframework.boot:spring-boot-starter-test")
 }"""),
        FileDiff("CHANGELOG.md", """@@ -1,5 +1,9 @@
 # Changelog
 
+## 3.9.1
+
+- Bump the PostgreSQL JDBC driver to 42.7.5.
+
 ## 3.9.0
 
 - Structured logging."""),
    ),
)

PGJDBC_STACK = (
    "org.postgresql.util.PSQLException: An I/O error occurred while sending to the backend.\n"
    "\tat org.postgresql.core.v3.QueryExecutorImpl.execute(QueryExecutorImpl.java:395)\n"
    "\tat org.postgresql.jdbc.PgPreparedStatement.executeUpdate(PgPreparedStatement.java:152)\n"
    "\tat com.shop.inventory.StockRepository.reserve(StockRepository.java:88)\n"
    "\tat com.shop.inventory.InventoryService.reserve(InventoryService.java:41)"
)
