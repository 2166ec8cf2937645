-- A customer's lifetime value is the sum of their non-returned orders.
with by_orders as (
    select customer_id, sum(amount) as total
    from {{ ref('orders') }}
    where status <> 'returned'
    group by customer_id
)
select c.customer_id, c.lifetime_value, b.total
from {{ ref('customers') }} c
join by_orders b on b.customer_id = c.customer_id
where c.lifetime_value <> b.total
