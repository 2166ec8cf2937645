with customers as (
    select * from {{ ref('stg_customers') }}
),

customer_orders as (
    select * from {{ ref('int_customer_orders') }}
)

select
    c.customer_id,
    c.full_name,
    c.email,
    co.first_order,
    co.most_recent_order,
    coalesce(co.number_of_orders, 0) as number_of_orders,
    coalesce(co.lifetime_value, 0) as lifetime_value,
    case
        when co.number_of_orders is null then 'none'
        when co.lifetime_value >= {{ var('gold_threshold') }} then 'gold'
        when co.lifetime_value >= {{ var('silver_threshold', 30) }} then 'silver'
        else 'bronze'
    end as segment
from customers c
left join customer_orders co on c.customer_id = co.customer_id
