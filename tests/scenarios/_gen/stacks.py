"""Reusable service topologies (call graphs) the scenario descriptions start from."""

from __future__ import annotations

from dataclasses import replace

from .spec import Call, Svc

ORDERS_SELECT = "SELECT id, status, total_cents FROM carts WHERE session_id = $1"


def orders_stack() -> tuple[Svc, ...]:
    """A web shop back end: storefront -> checkout-api -> inventory/payment-gateway, Postgres, Valkey."""
    return (
        Svc("storefront", "POST /checkout", "5.12.0", "c41e9a0", "nodejs", 9.0,
            (Call("auth-svc", "auth.v1.Auth/Verify"), Call("checkout-api", "POST /api/v1/checkout")),
            info=("checkout submitted cart={id}", "rendered confirmation page in {ms}ms")),
        Svc("auth-svc", "auth.v1.Auth/Verify", "1.9.3", "9b2d417", "go", 2.0,
            (Call("valkey", "GET session", ms=0.4),), log_style="logfmt",
            info=("token verified sub=user-{id}",)),
        Svc("checkout-api", "POST /api/v1/checkout", "2.4.0", "5e1d0b8", "go", 12.0,
            (Call("db-primary", "SELECT shop.carts", ms=3.0, query=ORDERS_SELECT, table="carts"),
             Call("inventory", "inventory.v1.Inventory/Reserve"),
             Call("payment-gateway", "POST /v1/charges"),
             Call("db-primary", "INSERT shop.orders", ms=4.0,
                  query="INSERT INTO orders (id, customer_email, total_cents, created_at) VALUES ($1, $2, $3, now())",
                  table="orders")),
            info=("order {id} placed", "cart validated items=3 in {ms}ms")),
        Svc("inventory", "inventory.v1.Inventory/Reserve", "3.8.1", "e07c3d2", "java", 7.0,
            (Call("valkey", "GET stock", ms=0.5, prob=0.7),
             Call("db-primary", "UPDATE shop.stock", ms=3.5,
                  query="UPDATE stock SET reserved = reserved + $1 WHERE sku = $2", table="stock")),
            info=("reserved sku=SKU-{id}",), old_semconv=True),
        Svc("payment-gateway", "POST /v1/charges", "5.1.4", "2f9e6a1", "python", 35.0,
            log_style="json", info=("charge authorized id=ch_{id}",)),
        Svc("db-primary", system="postgresql", cpu=0.9, mem_mb=2048),
        Svc("valkey", system="redis", cpu=0.1, mem_mb=512),
    )


def demo_stack() -> tuple[Svc, ...]:
    """The OpenTelemetry demo (3.x service names), reduced to its request path."""
    return (
        Svc("frontend-proxy", "ingress", "2.0.2", "1f0c5b3", "cpp", 1.0,
            (Call("frontend", "GET /api/products"),),
            log_style="logfmt"),
        Svc("frontend", "GET /api/products", "2.0.2", "1f0c5b3", "nodejs", 6.0,
            (Call("product-catalog", "oteldemo.ProductCatalogService/GetProduct"),
             Call("currency", "oteldemo.CurrencyService/Convert"),
             Call("ad", "oteldemo.AdService/GetAds", prob=0.8),
             Call("recommendation", "oteldemo.RecommendationService/ListRecommendations", prob=0.8),
             Call("cart", "oteldemo.CartService/GetCart"),
             Call("checkout", "oteldemo.CheckoutService/PlaceOrder", prob=0.35)),
            info=("GET /api/products 200 in {ms}ms",)),
        Svc("product-catalog", "oteldemo.ProductCatalogService/GetProduct", "2.0.2", "1f0c5b3", "go", 1.5),
        Svc("currency", "oteldemo.CurrencyService/Convert", "2.0.2", "1f0c5b3", "cpp", 0.8, log_style="logfmt"),
        Svc("ad", "oteldemo.AdService/GetAds", "2.0.2", "1f0c5b3", "java", 3.0,
            info=("Targeted ad request received for [{id}]",)),
        Svc("recommendation", "oteldemo.RecommendationService/ListRecommendations", "2.0.2", "1f0c5b3",
            "python", 4.0, (Call("product-catalog", "oteldemo.ProductCatalogService/ListProducts"),),
            info=("Receive ListRecommendations for product ids:[{id}]",)),
        Svc("cart", "oteldemo.CartService/GetCart", "2.0.2", "1f0c5b3", "dotnet", 2.0,
            (Call("valkey-cart", "HGET", ms=0.4),), info=("GetCartAsync called with userId={id}",)),
        Svc("checkout", "oteldemo.CheckoutService/PlaceOrder", "2.0.2", "1f0c5b3", "go", 5.0,
            (Call("cart", "oteldemo.CartService/GetCart"),
             Call("shipping", "oteldemo.ShippingService/GetQuote"),
             Call("currency", "oteldemo.CurrencyService/Convert"),
             Call("payment", "oteldemo.PaymentService/Charge"),
             Call("email", "POST /send_order_confirmation"),
             Call("kafka", "publish orders", ms=1.2)),
            info=("payment went through (transaction_id: {id})", "order confirmation email sent")),
        Svc("shipping", "oteldemo.ShippingService/GetQuote", "2.0.2", "1f0c5b3", "rust", 2.0,
            (Call("quote", "POST /getquote"),)),
        Svc("quote", "POST /getquote", "2.0.2", "1f0c5b3", "php", 3.0),
        Svc("payment", "oteldemo.PaymentService/Charge", "2.0.2", "1f0c5b3", "nodejs", 4.0,
            info=("Transaction complete. transactionId={id}",)),
        Svc("email", "POST /send_order_confirmation", "2.0.2", "1f0c5b3", "ruby", 6.0, log_style="logfmt",
            old_semconv=True,
            info=("Order confirmation email sent to: someone{id}@example.com",)),
        Svc("valkey-cart", system="redis", cpu=0.1, mem_mb=256),
        Svc("kafka", system="kafka", cpu=0.4, mem_mb=1024),
    )


def sock_stack() -> tuple[Svc, ...]:
    """Sock Shop-like microservices (the RCAEval/BARO benchmark systems look like this)."""
    return (
        Svc("front-end", "GET /orders", "0.3.12", "a8e42f1", "nodejs", 5.0,
            (Call("user", "GET /customers/{id}"), Call("catalogue", "GET /catalogue"),
             Call("carts", "GET /carts/{id}/items"), Call("orders", "POST /orders", prob=0.5)),
            info=("GET /orders 201 {ms}ms",)),
        Svc("user", "GET /customers/{id}", "0.4.7", "77f0b21", "go", 2.0,
            (Call("user-db", "find customers", ms=1.2),), log_style="logfmt"),
        Svc("catalogue", "GET /catalogue", "0.3.5", "3c9d5e8", "go", 2.0,
            (Call("catalogue-db", "SELECT catalogue", ms=1.5,
                  query="SELECT sock.sock_id, name, price FROM sock JOIN sock_tag USING (sock_id) WHERE tag = ?",
                  table="sock"),), log_style="logfmt", old_semconv=True),
        Svc("carts", "GET /carts/{id}/items", "0.4.8", "be1902c", "java", 6.0,
            (Call("carts-db", "find carts", ms=1.1),), log_style="json", cpu=0.5, mem_mb=600,
            info=("Loaded cart {id} with 3 items",)),
        Svc("orders", "POST /orders", "0.4.7", "4d11c0e", "java", 9.0,
            (Call("user", "GET /customers/{id}"), Call("carts", "GET /carts/{id}/items"),
             Call("catalogue", "GET /catalogue"),
             Call("payment", "POST /paymentAuth"), Call("shipping", "POST /shipping"),
             Call("orders-db", "insert orders", ms=2.0)),
            log_style="json", cpu=0.5, mem_mb=700, info=("Order {id} created",)),
        Svc("payment", "POST /paymentAuth", "0.4.3", "91ab7d4", "go", 2.5, log_style="logfmt"),
        Svc("shipping", "POST /shipping", "0.4.8", "0d6a2f3", "java", 4.0,
            (Call("rabbitmq", "publish shipping-task", ms=0.9),), log_style="json", old_semconv=True),
        Svc("user-db", system="mongodb", cpu=0.2, mem_mb=512),
        Svc("catalogue-db", system="mysql", cpu=0.2, mem_mb=512),
        Svc("carts-db", system="mongodb", cpu=0.2, mem_mb=512),
        Svc("orders-db", system="mongodb", cpu=0.2, mem_mb=512),
        Svc("rabbitmq", system="rabbitmq", cpu=0.2, mem_mb=512),
    )


def tweak(services: tuple[Svc, ...], name: str, **changes: object) -> tuple[Svc, ...]:
    return tuple(replace(s, **changes) if s.name == name else s for s in services)  # type: ignore[arg-type]
