select
    customer_id,
    min(order_date) as first_order,
    max(order_date) as most_recent_order,
    count(order_id) as number_of_orders,
    sum(amount) as lifetime_value
from {{ ref('orders') }}
where status <> 'returned'
group by customer_id
